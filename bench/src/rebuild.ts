import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import { EventStore, streamNames } from "@pot/event-store";
import { REPLAY_HEAP } from "@pot/ops";
import { UsageWindow, type UsageReport, type Watched } from "./proc.js";
import type { RebuildJob, RebuildOutcome } from "./rebuild-child.js";
import { ratePerSecond } from "./stats.js";
import { publishUnacked, synthesize, type SynthService } from "./synth.js";

export interface SyntheticStream {
  readonly service: SynthService;
  readonly namespace: string;
  /** Events in the stream, and the stream sequence of each count asked for. */
  readonly events: number;
  readonly publishRate: number;
  readonly publishMs: number;
}

/**
 * Appends `events` synthetic events to the service's stream in `namespace` (after the `already`
 * written before) at the broker's store rate (publishUnacked, checked at the end). The stream holds
 * nothing else, so event n has stream sequence n.
 */
export async function createSyntheticStream(
  nc: NatsConnection,
  namespace: string,
  service: SynthService,
  events: number,
  /** Events the stream holds already (this call appends after them). */
  already = 0,
): Promise<SyntheticStream> {
  const names = streamNames(namespace, service);
  const store = await EventStore.open(nc, names);
  const generator = synthesize(service, names);
  const started = performance.now();
  const chunk = 100_000;
  for (let done = 0; done < events;) {
    const count = Math.min(chunk, events - done);
    await publishUnacked(nc, store.jsm, names.stream, generator, count, already + done + count);
    done += count;
  }
  const ms = performance.now() - started;
  return { service, namespace, events, publishRate: ratePerSecond(events, ms), publishMs: Math.round(ms) };
}

export interface RebuildRun {
  readonly pid: number;
  readonly outcome: RebuildOutcome;
  /** CPU of the rebuild process, Postgres and NATS while it ran. */
  readonly usage: UsageReport;
}

const CHILD = fileURLToPath(new URL("./rebuild-child.js", import.meta.url));

/** Rebuilds the service's projection from zero in a child process, up to stream sequence `targetSeq`. */
export async function runRebuild(
  job: RebuildJob,
  watched: readonly Watched[],
  env: Record<string, string> = {},
): Promise<RebuildRun> {
  // The replay runs as `pot replay` does: with its heap cap.
  const flags =
    job.path === "replay"
      ? [`--max-old-space-size=${REPLAY_HEAP.maxOldSpaceMb}`, `--max-semi-space-size=${REPLAY_HEAP.maxSemiSpaceMb}`]
      : [];
  const child = spawn(process.execPath, [...flags, CHILD, JSON.stringify(job)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  const window = new UsageWindow([{ name: "rebuild", pids: () => (child.pid ? [child.pid] : []) }, ...watched]);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8_000)));
  // A replay cannot be asked to stop: past its time (and a margin for the index builds and the
  // swap) it is killed, and reported from the progress it printed.
  let killed = false;
  const timer =
    job.path === "replay"
      ? setTimeout(() => {
          killed = true;
          child.kill("SIGKILL");
        }, job.timeoutMs + 20_000)
      : undefined;
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", resolve);
  });
  clearTimeout(timer);
  const usage = window.end();
  const lines = stdout.trim().split("\n");
  const line = lines.at(-1) ?? "";
  if (killed) return { pid: child.pid ?? 0, outcome: stoppedOutcome(job, lines), usage };
  if (code !== 0 || !line.startsWith("{")) {
    throw new Error(`rebuild of ${job.service} failed (exit ${code}):\n${stderr}`);
  }
  return { pid: child.pid ?? 0, outcome: JSON.parse(line) as RebuildOutcome, usage };
}

/** The outcome of a replay stopped for time, from its progress lines (`P <ms> <applied> <rss MB>`). */
export function stoppedOutcome(job: Pick<RebuildJob, "service">, lines: readonly string[]): RebuildOutcome {
  const progress = lines
    .filter((line) => line.startsWith("P "))
    .map((line) => line.slice(2).split(" ").map(Number) as [number, number, number])
    .filter((point) => point.length === 3 && point.every(Number.isFinite));
  const last = progress.at(-1) ?? [0, 0, 0];
  return {
    service: job.service,
    path: "replay",
    projection: "views",
    events: last[1],
    complete: false,
    ms: last[0],
    rate: last[0] > 0 ? Math.round(last[1] / (last[0] / 1000)) : 0,
    peakRssMb: Math.max(0, ...progress.map((point) => point[2])),
    cpuMs: 0,
    progress,
  };
}
