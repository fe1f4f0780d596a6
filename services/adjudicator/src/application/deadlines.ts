import { sql, type Kysely } from "kysely";
import type { Logger } from "@pot/event-store";
import type { AdjudicatorDatabase } from "../read-models/database.js";
import type { Adjudicator } from "./adjudicator.js";

export interface DeadlineScheduler {
  /** Resolves every game that is due now; returns how many it resolved. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Deadlines are durable because they live in the games projection, not in timers: after a restart
 * the first sweep resolves every game whose deadline passed while the adjudicator was down, and
 * every game whose resolution a crash interrupted (both moves revealed, not yet resolved).
 */
export function startDeadlineScheduler(options: {
  adjudicator: Adjudicator;
  db: Kysely<AdjudicatorDatabase>;
  now: () => number;
  intervalMs: number;
  logger: Logger;
  /** Run after each sweep's resolutions: the rate target's retargets (Adjudicator.retargetDue). */
  afterSweep?: () => Promise<unknown>;
}): DeadlineScheduler {
  const { adjudicator, db, logger } = options;
  let running: Promise<number> | undefined;
  let stopped = false;

  const sweepOnce = async (): Promise<number> => {
    const due = await db
      .selectFrom("games")
      .select("game_id")
      .where("phase", "<>", "resolved")
      .where((eb) =>
        eb.or([
          eb("next_deadline", "<", String(options.now())),
          eb.and([eb("revealed_a", "=", true), eb("revealed_b", "=", true)]),
        ]),
      )
      .orderBy(sql`next_deadline`)
      .limit(500)
      .execute();
    let resolved = 0;
    for (const { game_id } of due) {
      try {
        const state = await adjudicator.tick(game_id);
        if (state.phase === "resolved") resolved++;
      } catch (error) {
        logger.warn({ err: error, gameId: game_id }, "could not resolve a due game; will retry");
      }
    }
    // After the resolutions: an interval's last resolutions are on the stream before it is counted.
    await options.afterSweep?.().catch((error: unknown) => logger.warn({ err: error }, "retarget failed; will retry"));
    return resolved;
  };

  // A sweep asked for while one runs (the clock moved meanwhile) runs again after it, with the new
  // time; several such requests share that one follow-up.
  let queued: Promise<number> | undefined;
  const sweep = (): Promise<number> => {
    if (running) {
      queued ??= running
        .catch(() => 0)
        .then(() => {
          queued = undefined;
          return sweep();
        });
      return queued;
    }
    running = sweepOnce().finally(() => {
      running = undefined;
    });
    return running;
  };

  const timer = setInterval(() => {
    if (!stopped) sweep().catch((error: unknown) => logger.warn({ err: error }, "deadline sweep failed"));
  }, options.intervalMs);
  timer.unref();

  return {
    sweep,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
