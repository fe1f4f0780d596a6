import { sql, type Transaction } from "kysely";
import { unnestRows } from "@pot/projections";
import type { MemberEvent } from "../../domain/index.js";
import type { IdentityDatabase } from "../database.js";
import type { Sequenced } from "../sequenced.js";

const GRANT = {
  member_id: "text",
  game_id: "text",
  count: "integer",
  expires_at: "bigint",
  granted_seq: "bigint",
} as const;

/** credit_grants: one insert per batch; a grant is keyed by member and game, so a repeat is a no-op. */
export async function applyCredits(
  trx: Transaction<IdentityDatabase>,
  events: readonly Sequenced<MemberEvent>[],
): Promise<void> {
  const grants = [];
  for (const { seq, event } of events) {
    if (event.type !== "CreditsGranted") continue;
    grants.push({
      member_id: event.memberId,
      game_id: event.gameId,
      count: event.count,
      expires_at: event.expiresAtMs,
      granted_seq: seq,
    });
  }
  if (grants.length === 0) return;
  await sql`
    insert into credit_grants (member_id, game_id, count, expires_at, granted_seq)
    select * from ${unnestRows(GRANT, grants)}
    on conflict (member_id, game_id) do nothing
  `.execute(trx);
}
