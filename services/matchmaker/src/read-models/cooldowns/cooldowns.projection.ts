import { sql, type Transaction } from "kysely";
import { unnestRows } from "@pot/projections";
import type { LedgerEvent } from "../../domain/index.js";
import type { MatchmakerDatabase } from "../database.js";
import type { Sequenced } from "../sequenced.js";

const COOLDOWN = {
  member_low: "text",
  member_high: "text",
  until: "bigint",
  game_id: "text",
  last_seq: "bigint",
} as const;

/** The two members of a pair in the order pair_cooldowns keys them. */
export function orderedPair(x: string, y: string): [string, string] {
  return x < y ? [x, y] : [y, x];
}

/** pair_cooldowns: every GameOpened sets its pair's cool-down; the batch's last opening per pair wins. */
export async function applyCooldowns(
  trx: Transaction<MatchmakerDatabase>,
  events: readonly Sequenced<LedgerEvent>[],
): Promise<void> {
  const pairs = new Map<
    string,
    { member_low: string; member_high: string; until: number; game_id: string; last_seq: number }
  >();
  for (const { seq, event } of events) {
    if (event.type !== "GameOpened") continue;
    const [low, high] = orderedPair(event.sponsorA.memberId, event.sponsorB.memberId);
    pairs.set(`${low}:${high}`, {
      member_low: low,
      member_high: high,
      until: event.pairCooldownUntil,
      game_id: event.gameId,
      last_seq: seq,
    });
  }
  if (pairs.size === 0) return;
  await sql`
    insert into pair_cooldowns as t (member_low, member_high, until, game_id, last_seq)
    select * from ${unnestRows(COOLDOWN, [...pairs.values()])}
    on conflict (member_low, member_high) do update set until = excluded.until, game_id = excluded.game_id,
      last_seq = excluded.last_seq
    where t.last_seq < excluded.last_seq
  `.execute(trx);
}
