import { isJetStreamNotFound } from "./errors.js";
import { silentLogger, type Logger } from "./logger.js";

export interface Stoppable {
  stop(): Promise<void>;
}

export interface Deferred<T extends Stoppable> extends Stoppable {
  /** Resolves with the started worker once the stream it follows exists. */
  readonly ready: Promise<T>;
}

/**
 * Starts a worker that follows another service's stream, retrying while that stream does not
 * exist yet (the services start in any order). Other errors are retried too, with a log line.
 */
export function startWhenAvailable<T extends Stoppable>(
  what: string,
  start: () => Promise<T>,
  options: { logger?: Logger; retryMs?: number } = {},
): Deferred<T> {
  const logger = options.logger ?? silentLogger;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  const ready = (async () => {
    for (let attempt = 1; ; attempt++) {
      if (stopped) throw new Error(`${what} stopped before it started`);
      try {
        return await start();
      } catch (error) {
        if (stopped) throw error;
        if (isJetStreamNotFound(error)) {
          if (attempt === 1) logger.info({ what }, "waiting for the stream to exist");
        } else {
          logger.warn({ err: error, what, attempt }, "could not start; retrying");
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, options.retryMs ?? 500);
        });
      }
    }
  })();
  ready.catch(() => undefined);
  return {
    ready,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      wake?.();
      const worker = await ready.catch(() => undefined);
      await worker?.stop();
    },
  };
}
