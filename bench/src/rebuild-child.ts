// A service's read models rebuilt from zero in a process of their own, so that the peak RSS is
// theirs. Usage: node rebuild-child.js '<RebuildJob as JSON>'; prints one line of JSON (RebuildOutcome).
import { connect } from "@nats-io/transport-node";
import { DeadLetters, EventStore, streamNames } from "@pot/event-store";
import { replay } from "@pot/ops";
import { openDatabase, projectionSource, startReadModels, type ReadModels } from "@pot/projections";
import { adjudicatorReadModels, identityReadModels, matchmakerReadModels } from "./service-modules.js";
import type { SynthService } from "./synth.js";

/**
 * Which rebuild: `replay`, the operator's (`pot replay`: ordered consumers into a fresh schema,
 * swapped in, run with pot replay's heap cap), or `runner`, the live projection runner catching
 * up from zero on its durable consumer (a service started on an empty schema).
 */
export type RebuildPath = "replay" | "runner";

export interface RebuildJob {
  readonly service: SynthService;
  readonly path: RebuildPath;
  readonly natsUrl: string;
  readonly databaseUrl: string;
  /** Namespace of the synthetic streams. */
  readonly namespace: string;
  /** A fresh schema: the projections start from nothing. */
  readonly schema: string;
  /** Stop once every projection's checkpoint reaches this stream sequence. */
  readonly targetSeq: number;
  readonly timeoutMs: number;
}

export interface RebuildOutcome {
  readonly service: SynthService;
  readonly path: RebuildPath;
  /** The projections rebuilt (those of the service's read models that apply its own stream). */
  readonly projection: string;
  /** Events applied by the slowest projection (the stream holds only the service's events). */
  readonly events: number;
  readonly complete: boolean;
  readonly ms: number;
  readonly rate: number;
  /** Peak RSS of this process (getrusage ru_maxrss). */
  readonly peakRssMb: number;
  readonly cpuMs: number;
  /** Every second: [ms since start, checkpoint, RSS in MB], to see whether memory grows with the events applied. */
  readonly progress: readonly (readonly [number, number, number])[];
}

// The read models are typed against their own tables; the runner only passes the database through.
const READ_MODELS: Record<SynthService, ReadModels<unknown>> = {
  identity: identityReadModels as ReadModels<unknown>,
  matchmaker: matchmakerReadModels as ReadModels<unknown>,
  adjudicator: adjudicatorReadModels as ReadModels<unknown>,
};

/** `pot replay`'s rebuild of the service; its rate counts from the first read (not the swap). */
async function replayRebuild(job: RebuildJob): Promise<RebuildOutcome> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const progress: [number, number, number][] = [];
  let applied = 0;
  const sample = () => {
    const point: [number, number, number] = [
      Math.round(performance.now() - started),
      applied,
      Math.round(process.memoryUsage.rss() / 2 ** 20),
    ];
    progress.push(point);
    // For the parent, should it have to stop this replay for time.
    process.stdout.write(`P ${point.join(" ")}\n`);
  };
  const timer = setInterval(sample, 1_000);
  const result = await replay({
    natsUrl: job.natsUrl,
    databaseUrl: job.databaseUrl,
    namespace: job.namespace,
    service: job.service,
    onProgress: (p) => (applied = p.applied),
  });
  clearInterval(timer);
  applied = result.events;
  sample();
  const cpu = process.cpuUsage(cpuBefore);
  return {
    service: job.service,
    path: "replay",
    projection: READ_MODELS[job.service].projections.map((entry) => entry.projection.name).join("+"),
    events: result.events,
    complete: result.events >= job.targetSeq,
    ms: Math.round(result.events / (result.eventsPerSecond / 1000)),
    rate: result.eventsPerSecond,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    progress,
  };
}

async function rebuild(job: RebuildJob): Promise<RebuildOutcome> {
  if (job.path === "replay") return replayRebuild(job);
  const all = READ_MODELS[job.service];
  // Only the projections of the service's own stream: the synthetic logs are per service.
  const models: ReadModels<unknown> = {
    ...all,
    projections: all.projections.filter((entry) => entry.stream === "self"),
  };
  const nc = await connect({ servers: job.natsUrl, name: `bench-rebuild-${job.service}` });
  const store = await EventStore.open(nc, streamNames(job.namespace, job.service));
  const database = await openDatabase<unknown>({
    url: job.databaseUrl,
    schema: job.schema,
    migrations: models.migrations,
  });
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const progress: [number, number, number][] = [];
  const sample = () =>
    progress.push([
      Math.round(performance.now() - started),
      position(),
      Math.round(process.memoryUsage.rss() / 2 ** 20),
    ]);
  const deadLetters = await DeadLetters.open(nc, job.namespace, job.service);
  const running = await startReadModels({ models, db: database.db, store, namespace: job.namespace, deadLetters });
  const position = () => Math.min(...running.runners.map(({ runner }) => runner.position()));
  const timer = setInterval(sample, 1_000);
  const reached = await Promise.all(running.runners.map(({ runner }) => runner.waitFor(job.targetSeq, job.timeoutMs)));
  const ms = performance.now() - started;
  clearInterval(timer);
  const events = position();
  sample();
  const cpu = process.cpuUsage(cpuBefore);
  await running.stop();
  // Leave no consumer behind: a later run from the same stream starts from zero too.
  for (const entry of models.projections) {
    const source = projectionSource(job.namespace, models, entry);
    await store.jsm.consumers.delete(source.stream, source.durable).catch(() => undefined);
  }
  await database.close();
  await nc.close();
  return {
    service: job.service,
    path: "runner",
    projection: models.projections.map((entry) => entry.projection.name).join("+"),
    events,
    complete: reached.every(Boolean),
    ms: Math.round(ms),
    rate: Math.round(events / (ms / 1000)),
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    progress,
  };
}

const job = JSON.parse(process.argv[2] ?? "{}") as RebuildJob;
rebuild(job).then(
  (outcome) => process.stdout.write(`${JSON.stringify(outcome)}\n`),
  (error: unknown) => {
    process.stderr.write(`rebuild of ${job.service} failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  },
);
