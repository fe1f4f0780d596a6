import { setTimeout as sleep } from "node:timers/promises";

export interface LoadResult {
  /** Calls that completed inside the window. */
  readonly completed: number;
  readonly failed: number;
  /** Length of the measured window. */
  readonly ms: number;
  /** A few error messages, for the report. */
  readonly errors: readonly string[];
}

/**
 * Closed loop: `concurrency` workers call `work` back to back for `durationMs` (after `warmupMs`
 * that is not counted). A call counts in the window it completes in.
 */
export async function closedLoop(
  concurrency: number,
  durationMs: number,
  work: (worker: number, iteration: number) => Promise<unknown>,
  options: { warmupMs?: number } = {},
): Promise<LoadResult> {
  const warmupMs = options.warmupMs ?? 0;
  const begin = performance.now();
  const windowStart = begin + warmupMs;
  const windowEnd = windowStart + durationMs;
  let completed = 0;
  let failed = 0;
  const errors: string[] = [];
  const worker = async (index: number) => {
    for (let iteration = 0; performance.now() < windowEnd; iteration++) {
      try {
        await work(index, iteration);
        const now = performance.now();
        if (now >= windowStart && now <= windowEnd) completed++;
      } catch (error) {
        failed++;
        if (errors.length < 5) errors.push(messageOf(error));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, index) => worker(index)));
  return { completed, failed, ms: durationMs, errors };
}

/**
 * Open loop: starts `work` at a fixed rate for `durationMs`, whatever the latency (so queueing shows
 * in the latencies rather than slowing the arrivals), with at most `maxInFlight` outstanding.
 */
export async function openLoop(
  ratePerSecond: number,
  durationMs: number,
  work: (index: number) => Promise<unknown>,
  options: { maxInFlight?: number } = {},
): Promise<LoadResult & { started: number; dropped: number }> {
  const maxInFlight = options.maxInFlight ?? 10_000;
  const begin = performance.now();
  const inFlight = new Set<Promise<void>>();
  let started = 0;
  let dropped = 0;
  let completed = 0;
  let failed = 0;
  const errors: string[] = [];
  const intervalMs = 1000 / ratePerSecond;
  for (;;) {
    const now = performance.now();
    if (now - begin >= durationMs) break;
    const due = Math.floor((now - begin) / intervalMs) + 1;
    while (started + dropped < due) {
      if (inFlight.size >= maxInFlight) {
        dropped++;
        continue;
      }
      const index = started++;
      const task: Promise<void> = work(index)
        .then(
          () => void completed++,
          (error: unknown) => {
            failed++;
            if (errors.length < 5) errors.push(messageOf(error));
          },
        )
        .finally(() => inFlight.delete(task));
      inFlight.add(task);
    }
    await sleep(Math.max(1, Math.min(intervalMs, 5)));
  }
  const ms = performance.now() - begin;
  await Promise.all(inFlight);
  return { completed, failed, ms, errors, started, dropped };
}

/** Runs `work` over `items` with at most `concurrency` at once; resolves when all are done. */
export async function pool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<unknown>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

export function messageOf(error: unknown): string {
  if (error instanceof Error) return (error as { details?: string }).details || error.message;
  return String(error);
}

/**
 * Runs `work` over `items`, `concurrency` at once, until they are done or `maxMs` has passed (then
 * no more are started). Returns the calls that completed and the time from start to the last one.
 */
export async function timedPool<T>(
  items: readonly T[],
  concurrency: number,
  maxMs: number,
  work: (item: T) => Promise<unknown>,
): Promise<LoadResult> {
  const started = performance.now();
  let next = 0;
  let completed = 0;
  let failed = 0;
  let last = started;
  const errors: string[] = [];
  const worker = async () => {
    while (next < items.length && performance.now() - started < maxMs) {
      const item = items[next++] as T;
      try {
        await work(item);
        completed++;
        last = performance.now();
      } catch (error) {
        failed++;
        if (errors.length < 5) errors.push(messageOf(error));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return { completed, failed, ms: last - started, errors };
}
