// `npm run bench [-- --quick]`: see bench/README.md.
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import pg from "pg";
import {
  createTestDatabase,
  deleteNamespace,
  ensureServers,
  repoRoot,
  uniqueNamespace,
  type Servers,
  type TestDatabase,
} from "@pot/devenv";
import { commandRates } from "./commands.js";
import { Arena, closedStep, runFullStack, setUpArena } from "./full-stack.js";
import {
  grpcPingRate,
  grpcPingRateFromChild,
  jetStreamIngestRate,
  jetStreamPipelinedPublishRate,
  jetStreamPublishRate,
  jetStreamReadRate,
  limitsStream,
  postgresUpsertRate,
  readUpsertPipelineRate,
  rebuildPipelineRate,
  signatureVerifyRate,
} from "./limits.js";
import { Observer } from "./observer.js";
import { parseOptions, SECTIONS, UsageError, type BenchOptions } from "./options.js";
import { pidsNamed, UsageWindow, type Watched } from "./proc.js";
import { summariseProfile, type ProfileSummary } from "./profile.js";
import { createSyntheticStream, runRebuild } from "./rebuild.js";
import type { RebuildPath } from "./rebuild-child.js";
import { streamNames } from "@pot/event-store";
import { evaluateTargets, renderMarkdown, renderTable, whatLimitsUs } from "./report.js";
import type { BenchResults, Limits, Meta, RebuildResult } from "./results.js";
import { round } from "./stats.js";
import type { SynthService } from "./synth.js";
import { portOf, SERVICES, startSystem, type System } from "./system.js";

const root = repoRoot();
const resultsDir = join(root, "bench", "results");
const profiler = pathToFileURL(fileURLToPath(new URL("./cpu-profiler.js", import.meta.url))).href;
/** The whole run (after the build) should end within this; the rebuild section gets what is left. */
// The bench itself: the rebuild section replays each 1M-event log twice (the pipeline, then the rebuild), so
// on a 2-core machine a full run needs about 14 minutes.
const BUDGET_MS = { full: 840_000, quick: 100_000 };

const log = (line: string) => console.log(line);

/** Everything the run created, released in reverse on the way out (also on Ctrl-C). */
class Resources {
  private readonly cleanups: (() => Promise<unknown>)[] = [];
  private closing: Promise<void> | undefined;

  add(cleanup: () => Promise<unknown>): void {
    this.cleanups.push(cleanup);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const cleanup of this.cleanups.reverse()) {
        await cleanup().catch((error: unknown) => console.error(`bench: cleanup failed: ${String(error)}`));
      }
    })();
    return this.closing;
  }
}

async function main(options: BenchOptions): Promise<void> {
  const startedAt = new Date();
  const began = performance.now();
  const deadline = began + (options.quick ? BUDGET_MS.quick : BUDGET_MS.full);
  const sectionMs: Record<string, number> = {};
  const section = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    log(`\n== ${name}`);
    try {
      return await work();
    } finally {
      sectionMs[name] = Math.round(performance.now() - started);
    }
  };
  const resources = new Resources();
  const interrupt = () => {
    console.error("\nbench: interrupted, cleaning up");
    void resources.close().then(() => process.exit(130));
  };
  process.once("SIGINT", interrupt);
  process.once("SIGTERM", interrupt);

  const servers: Servers = await ensureServers({ log: (line) => log(`[devenv] ${line}`) });
  resources.add(() => servers.stop());
  const database: TestDatabase = await createTestDatabase(servers.databaseUrl, "pot_bench");
  resources.add(() => database.drop());
  const namespace = uniqueNamespace("b");
  resources.add(() => deleteNamespace(servers.natsUrl, namespace));
  const nc: NatsConnection = await connect({ servers: servers.natsUrl, name: "bench" });
  resources.add(() => nc.close());
  log(`bench: namespace ${namespace}, database ${database.name}`);

  const results: {
    -readonly [K in keyof Omit<BenchResults, "meta" | "targets" | "whatLimitsUs">]?: BenchResults[K];
  } = {};
  const infra: Watched[] = [
    { name: "bench", pids: () => [process.pid] },
    { name: "nats", pids: () => pidsNamed("nats-server") },
    { name: "postgres", pids: () => pidsNamed("postgres") },
  ];
  try {
    const needServices = ["limits", "full", "commands", "profile"].some((name) => options.sections.has(name as never));
    let system: System | undefined;
    const stopSystem = async () => {
      const running = system;
      system = undefined;
      if (running) await running.stop();
    };
    resources.add(stopSystem);
    if (needServices) {
      system = await startSystem({ natsUrl: servers.natsUrl, databaseUrl: database.url, namespace });
    }
    const serviceWatch = (): Watched[] => [
      ...SERVICES.map((name) => ({ name, pids: () => (system ? [system.pid(name)] : []) })),
      ...infra,
    ];

    if (options.sections.has("limits") && system) {
      const running = system;
      results.limits = await section("limits", async () => {
        const usage = new UsageWindow(serviceWatch());
        const names = limitsStream(namespace);
        const grpcPing = await grpcPingRate(
          running.services.get("adjudicator")!.grpcAddress,
          "adjudicator",
          options.limitMs,
        );
        log(`  gRPC ping (client in the bench process) ${grpcPing.rate}/s`);
        const grpcPingTwoProcess = await grpcPingRateFromChild(
          running.services.get("adjudicator")!.grpcAddress,
          "adjudicator",
          options.limitMs,
        );
        log(`  gRPC ping (client in a process of its own) ${grpcPingTwoProcess.rate}/s`);
        const jetStreamPublish = await jetStreamPublishRate(nc, names, options.limitMs);
        log(`  JetStream publish (js.publish) ${jetStreamPublish.rate}/s`);
        const jetStreamPipelinedPublish = await jetStreamPipelinedPublishRate(nc, names, options.limitMs);
        log(`  JetStream publish (pipelined) ${jetStreamPipelinedPublish.rate}/s`);
        const jetStreamIngest = await jetStreamIngestRate(nc, names, options.limitMs);
        log(`  JetStream store without acks ${jetStreamIngest.rate}/s`);
        const lastSeq = jetStreamPublish.count + jetStreamPipelinedPublish.count + jetStreamIngest.count;
        const jetStreamRead = await jetStreamReadRate(nc, names, lastSeq);
        log(`  JetStream read ${jetStreamRead.rate}/s`);
        const postgresUpsert = await postgresUpsertRate(database.url, options.limitMs);
        log(`  Postgres upsert ${postgresUpsert.rate}/s`);
        const readUpsertPipeline = await readUpsertPipelineRate(
          nc,
          names,
          Math.min(lastSeq, options.pipelineEvents),
          database.url,
        );
        log(`  read + upsert pipeline (500/txn) ${readUpsertPipeline.rate}/s`);
        const rebuildPipeline = await rebuildPipelineRate(
          nc,
          names.stream,
          Math.min(lastSeq, options.pipelineEvents),
          database.url,
        );
        log(`  rebuild pipeline (fold, 5,000/txn, one in flight) ${rebuildPipeline.rate}/s`);
        const signatureVerify = signatureVerifyRate(Math.min(options.limitMs, 2_000));
        log(
          `  Ed25519 verify ${signatureVerify.mechanism}/s (mechanism), ${signatureVerify.nodeCrypto}/s (node:crypto)`,
        );
        return {
          signatureVerify,
          grpcPing,
          grpcPingTwoProcess,
          jetStreamPublish,
          jetStreamPipelinedPublish,
          jetStreamIngest,
          jetStreamRead,
          postgresUpsert,
          readUpsertPipeline,
          rebuildPipeline,
          usage: usage.end(),
        };
      });
    }

    let observer: Observer | undefined;
    if (system && ["full", "commands", "profile"].some((name) => options.sections.has(name as never))) {
      const running = system;
      // Pairs for twice the highest concurrency, so a pair rests while another plays.
      const members = options.quick ? 300 : 1_000;
      const { players, setup } = await section("setup", async () => {
        const prepared = await setUpArena(running.clients, nc, namespace, members);
        log(`  ${members} genesis members and the bench policy in ${round(prepared.setup.ms / 1000, 1)} s`);
        return prepared;
      });
      observer = await Observer.start(nc, namespace);
      const following = observer;
      resources.add(() => following.stop());
      const arena = new Arena(running.clients, observer, players);

      if (options.sections.has("full")) {
        const playing: Arena = arena;
        results.fullStack = await section("full stack", () =>
          runFullStack(playing, setup, { ...options, watched: serviceWatch(), log }),
        );
      }

      if (options.sections.has("commands") && system) {
        const running2: System = system;
        const playing: Arena = arena;
        results.commands = await section("commands", () =>
          commandRates(
            running2.clients,
            playing,
            {
              matchmaker: running2.services.get("matchmaker")!.grpcAddress,
              adjudicator: running2.services.get("adjudicator")!.grpcAddress,
            },
            {
              durationMs: options.commandMs,
              pingMs: options.limitMs,
              commitGames: options.commitGames,
              watched: serviceWatch(),
              log,
            },
          ),
        );
      }

      if (options.sections.has("profile")) {
        const playing: Arena = arena;
        const concurrency = results.fullStack?.saturationConcurrency || 16;
        results.profile = await section("profile", async () => {
          const dir = join(resultsDir, "profiles");
          rmSync(dir, { recursive: true, force: true });
          const current = system!;
          const ports = Object.fromEntries(SERVICES.map((name) => [name, portOf(current.services.get(name)!)]));
          await stopSystem();
          const profiled = await startSystem({
            natsUrl: servers.natsUrl,
            databaseUrl: database.url,
            namespace,
            ports,
            env: {
              NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import=${profiler}`.trim(),
              BENCH_CPU_PROFILE_DIR: dir,
              BENCH_CPU_PROFILE_ON: "signal",
            },
          });
          system = profiled;
          playing.clients = profiled.clients;
          // Sampling starts after the warm-up (SIGUSR2), so start-up and catching up are left out.
          const step = await closedStep(playing, concurrency, {
            warmupMs: options.warmupMs,
            stepMs: options.profileMs,
            watched: serviceWatch(),
            onMeasuring: () => SERVICES.forEach((name) => process.kill(profiled.pid(name), "SIGUSR2")),
          });
          log(`  ${concurrency} at once under the profiler: ${step.gamesPerSecond} games/s`);
          await stopSystem();
          const services: Record<string, ProfileSummary> = {};
          for (const name of SERVICES) {
            try {
              services[name] = summariseProfile(join(dir, `${name}-${profiled.pid(name)}.cpuprofile`), root);
            } catch (error) {
              log(`  no profile for ${name}: ${String(error)}`);
            }
          }
          return {
            concurrency,
            ms: options.profileMs,
            gamesPerSecond: step.gamesPerSecond,
            services,
            usage: step.usage,
          };
        });
      }
    }
    await observer?.stop();
    await stopSystem();

    if (options.sections.has("rebuild")) {
      results.rebuild = await section("rebuild", () =>
        rebuildSection(nc, servers, database, namespace, options, deadline, infra, results.limits),
      );
    }
  } finally {
    await resources.close();
  }

  const meta: Meta = {
    mode: options.quick ? "quick" : "full",
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - began),
    node: process.versions.node,
    cpu: cpus()[0]?.model.trim() ?? "unknown",
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    commit: gitCommit(),
    natsUrl: servers.natsUrl,
    postgres: await postgresVersion(servers.databaseUrl),
    namespace,
    database: database.name,
    sectionMs,
  };
  const partial = { meta, ...results };
  const targets = evaluateTargets(partial);
  const complete: BenchResults = { ...partial, targets, whatLimitsUs: whatLimitsUs({ ...partial, targets }) };
  console.log(`\n${renderTable(complete)}`);
  if (options.write) {
    mkdirSync(resultsDir, { recursive: true });
    // Only a complete full run is latest.*; a quick run or some sections go elsewhere (not committed).
    const name = options.quick ? "quick" : options.sections.size < SECTIONS.length ? "partial" : "latest";
    writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify(complete, null, 2)}\n`);
    writeFileSync(join(resultsDir, `${name}.md`), renderMarkdown(complete));
    log(`\nwrote bench/results/${name}.json and ${name}.md`);
  }
}

/**
 * Synthetic logs, then each service's projection rebuilt from zero at the first log length; the
 * longer logs (RSS must not grow with them) for the projection that rebuilt fastest, if the time
 * left allows it.
 */
async function rebuildSection(
  nc: NatsConnection,
  servers: Servers,
  database: TestDatabase,
  namespace: string,
  options: BenchOptions,
  deadline: number,
  infra: readonly Watched[],
  limits: Limits | undefined,
): Promise<RebuildResult> {
  const synthetic = `${namespace}_r`;
  const [first, ...longer] = options.rebuildEvents as [number, ...number[]];
  const streams: RebuildResult["streams"][number][] = [];
  const runs: RebuildResult["runs"][number][] = [];
  const profiles: Record<string, ProfileSummary> = {};
  const profileDir = join(resultsDir, "profiles");
  const ratio = (rate: number, limit: number | undefined) => (limit ? round(rate / limit, 3) : 0);
  const limitsNames = limitsStream(namespace);
  const rebuildOnce = async (service: SynthService, logEvents: number, timeoutMs: number, profile: boolean) => {
    // The yardsticks next to the rebuild, so that all see the same machine: the rebuild pipeline on
    // the same log (up to 1M events), and the old 500-row pipeline on the limits stream.
    const pipeline = await rebuildPipelineRate(
      nc,
      streamNames(synthetic, service).stream,
      Math.min(logEvents, 1_000_000),
      database.url,
    );
    log(`  rebuild pipeline on the ${service} log: ${pipeline.rate}/s`);
    const oldPipeline = limits
      ? await readUpsertPipelineRate(
          nc,
          limitsNames,
          Math.min(limits.jetStreamRead.count, options.pipelineEvents),
          database.url,
        )
      : undefined;
    for (const [index, path] of options.rebuildPaths.entries()) {
      await rebuildPath(service, path, logEvents, timeoutMs, profile && index === 0, pipeline.rate, oldPipeline?.rate);
    }
  };
  const rebuildPath = async (
    service: SynthService,
    path: RebuildPath,
    logEvents: number,
    timeoutMs: number,
    profile: boolean,
    pipelineRate: number,
    oldPipelineRate: number | undefined,
  ) => {
    const run = await runRebuild(
      {
        service,
        path,
        natsUrl: servers.natsUrl,
        databaseUrl: database.url,
        namespace: synthetic,
        schema: `${synthetic}_${service}_${logEvents}`,
        targetSeq: logEvents,
        timeoutMs,
      },
      infra,
      profile
        ? {
            NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import=${profiler}`.trim(),
            BENCH_CPU_PROFILE_DIR: profileDir,
          }
        : {},
    );
    if (profile) {
      try {
        profiles[`${service} (${path})`] = summariseProfile(
          join(profileDir, `rebuild-child-${run.pid}.cpuprofile`),
          root,
        );
      } catch (error) {
        log(`  no profile of the ${service} rebuild: ${String(error)}`);
      }
    }
    const o = run.outcome;
    log(
      `  ${service}/${o.projection} (${path}) from ${logEvents}: ${o.events} events in ${round(o.ms / 1000, 1)} s = ${o.rate}/s, ` +
        `peak RSS ${o.peakRssMb} MB${o.complete ? "" : " (stopped: out of time)"}`,
    );
    runs.push({
      logEvents,
      outcome: o,
      usage: run.usage,
      pipelineRate,
      oldPipelineRate: oldPipelineRate ?? 0,
      ratioToPipeline: ratio(o.rate, pipelineRate),
      ratioToOldPipeline: ratio(o.rate, oldPipelineRate),
      ratioToRead: ratio(o.rate, limits?.jetStreamRead.rate),
      ratioToUpsert: ratio(o.rate, limits?.postgresUpsert.rate),
    });
    return o;
  };
  const written = new Map<SynthService, number>();
  const extend = async (service: SynthService, events: number) => {
    const have = written.get(service) ?? 0;
    if (have >= events) return;
    const stream = await createSyntheticStream(nc, synthetic, service, events - have, have);
    written.set(service, events);
    streams.push({ ...stream, events });
    log(`  ${service}: wrote ${events - have} synthetic events at ${stream.publishRate}/s`);
  };
  // The cheapest logs first: time they leave unused goes to the later runs.
  const services = (["matchmaker", "adjudicator", "identity"] as const).filter((service) =>
    options.rebuildServices.includes(service),
  );
  const left = () => deadline - performance.now();
  const ingestRate = Math.max(5_000, limits?.jetStreamIngest.rate ?? 20_000);
  for (const [index, service] of services.entries()) {
    await extend(service, first);
    // What is left, less writing the other logs, shared between this run and the others of this length;
    // a longer log runs only if time is left over.
    const others = services.length - index - 1;
    const writing = others * ((first / ingestRate) * 1000 + 3_000);
    const share = (left() - writing) / (others + 1);
    await rebuildOnce(service, first, Math.max(10_000, Math.min(options.rebuildTimeoutMs, share)), true);
  }
  let longerSkipped: string | undefined;
  const completed = runs.filter((run) => run.outcome.complete).sort((a, b) => b.outcome.rate - a.outcome.rate);
  const fastest = completed[0];
  for (const events of longer) {
    if (!fastest) {
      longerSkipped = `no rebuild of ${first} events completed in its time, so the ${events}-event log was not tried`;
      log(`  ${longerSkipped}`);
      break;
    }
    const service = fastest.outcome.service;
    // With a margin: the machine may slow down, and the run must stay within its budget.
    const estimateMs = 1.3 * (((events - first) / ingestRate) * 1000 + (events / fastest.outcome.rate) * 1000) + 5_000;
    if (!options.long && estimateMs > left()) {
      longerSkipped =
        `${service} from ${events} events would take ~${round(estimateMs / 1000, 0)} s, more than the ` +
        `${round(Math.max(0, left()) / 1000, 0)} s left of the run's budget (npm run bench -- --long runs it anyway)`;
      log(`  ${longerSkipped}: skipped`);
      break;
    }
    await extend(service, events);
    await rebuildOnce(service, events, options.long ? 1_800_000 : Math.max(10_000, left()), false);
  }
  return { streams, runs, profiles, ...(longerSkipped ? { longerSkipped } : {}) };
}

function gitCommit(): string {
  try {
    const git = (...args: string[]) =>
      execFileSync("git", args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const commit = git("rev-parse", "--short", "HEAD").trim();
    const dirty = git("status", "--porcelain", "--untracked-files=no");
    return dirty.trim() ? `${commit} (with uncommitted changes)` : commit;
  } catch {
    return "unknown";
  }
}

async function postgresVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    const { rows } = await client.query<{ server_version: string }>("show server_version");
    return `PostgreSQL ${rows[0]?.server_version ?? "?"}`;
  } catch {
    return "PostgreSQL";
  } finally {
    await client.end().catch(() => undefined);
  }
}

let options: BenchOptions;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  if (error.message) console.error(`bench: ${error.message}`);
  console.error(error.usage);
  process.exit(2);
}
main(options).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
