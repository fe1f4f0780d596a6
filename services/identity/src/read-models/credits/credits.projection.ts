import { sql, type RawBuilder } from "kysely";
import { unnestRows } from "@pot/projections";
import type { MemberEvent } from "../../domain/index.js";
import type { Sequenced } from "../sequenced.js";

const GRANT = {
  member_id: "text",
  game_id: "text",
  count: "integer",
  expires_at: "bigint",
  granted_seq: "bigint",
} as const;

/** credit_grants: one insert per batch; a grant is keyed by member and game, so a repeat is a no-op. */
export function creditWrites(events: readonly Sequenced<MemberEvent>[]): RawBuilder<unknown>[] {
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
  if (grants.length === 0) return [];
  return [
    sql`
    insert into credit_grants (member_id, game_id, count, expires_at, granted_seq)
    select * from ${unnestRows(GRANT, grants)}
    on conflict (member_id, game_id) do nothing
  `,
  ];
}
