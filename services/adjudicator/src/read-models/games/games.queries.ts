import type { Kysely } from "kysely";
import { readCheckpoint } from "@pot/projections";
import type { AdjudicatorDatabase } from "../database.js";
import type { GameRow, GamesTable } from "./games.table.js";

export function findGame(db: Kysely<AdjudicatorDatabase>, gameId: string): Promise<GameRow | undefined> {
  return db.selectFrom("games").selectAll().where("game_id", "=", gameId).executeTakeFirst();
}

export interface GameFilter {
  readonly memberId?: string;
  readonly phase?: GamesTable["phase"];
  readonly outcome?: string;
  readonly actionKind?: string;
  /** Only games started before this stream sequence (the page cursor). */
  readonly beforeSeq?: number;
  readonly limit: number;
}

/** Games newest first (by the sequence of their GameStarted). */
export function listGames(db: Kysely<AdjudicatorDatabase>, filter: GameFilter): Promise<GameRow[]> {
  let query = db.selectFrom("games").selectAll().orderBy("started_seq", "desc").limit(filter.limit);
  if (filter.memberId !== undefined) {
    const memberId = filter.memberId;
    query = query.where((eb) => eb.or([eb("sponsor_a", "=", memberId), eb("sponsor_b", "=", memberId)]));
  }
  if (filter.phase !== undefined) query = query.where("phase", "=", filter.phase);
  if (filter.outcome !== undefined) query = query.where("outcome", "=", filter.outcome);
  if (filter.actionKind !== undefined) query = query.where("action_kind", "=", filter.actionKind);
  if (filter.beforeSeq !== undefined) query = query.where("started_seq", "<", String(filter.beforeSeq));
  return query.execute();
}

/**
 * Sponsored admissions decided within [startMs, endMs) by resolution time (admission games both
 * sponsors cooperated in), and the stream sequence the read model had applied when it counted: one
 * snapshot (REPEATABLE READ), so the count is exactly that of the events up to `throughSeq`.
 * A scan of the games table, run once per rate-target interval.
 */
export async function countAdmissions(
  db: Kysely<AdjudicatorDatabase>,
  projection: string,
  startMs: number,
  endMs: number,
): Promise<{ admissions: number; throughSeq: number }> {
  return db
    .transaction()
    .setIsolationLevel("repeatable read")
    .execute(async (trx) => {
      const row = await trx
        .selectFrom("games")
        .select((eb) => eb.fn.countAll<string>().as("admissions"))
        .where("action_kind", "=", "admission")
        .where("outcome", "=", "both-cooperated")
        .where("resolved_at", ">=", String(startMs))
        .where("resolved_at", "<", String(endMs))
        .executeTakeFirstOrThrow();
      const throughSeq = await readCheckpoint(trx as Kysely<AdjudicatorDatabase>, projection);
      return { admissions: Number(row.admissions), throughSeq };
    });
}
