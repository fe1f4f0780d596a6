import { sql, type RawBuilder, type Transaction } from "kysely";
import { unnestRows } from "@pot/projections";
import type { MemberEvent } from "../../domain/index.js";
import type { IdentityDatabase } from "../database.js";
import type { Sequenced } from "../sequenced.js";
import type { MembersTable } from "./members.table.js";

type Trx = Transaction<IdentityDatabase>;

interface MemberRow {
  member_id: string;
  public_key: Uint8Array;
  status: MembersTable["status"];
  kind: MembersTable["kind"];
  /** Joined by commas: Postgres cannot unnest an array of arrays. */
  sponsor_ids: string;
  controller_id: string | null;
  game_id: string | null;
  agreement_version: number | null;
  display_name: string;
  admitted_at: number;
  credits_redeemed: number;
  tainted: boolean;
  excluded_at: number | null;
  exclusion_reason: string | null;
  admitted_seq: number;
  last_seq: number;
}

type Changes = Pick<
  MemberRow,
  "member_id" | "status" | "credits_redeemed" | "excluded_at" | "exclusion_reason" | "last_seq"
>;

const NEW_ROW = {
  member_id: "text",
  public_key: "bytea",
  status: "text",
  kind: "text",
  sponsor_ids: "text",
  controller_id: "text",
  game_id: "text",
  agreement_version: "integer",
  display_name: "text",
  admitted_at: "bigint",
  credits_redeemed: "integer",
  tainted: "boolean",
  excluded_at: "bigint",
  exclusion_reason: "text",
  admitted_seq: "bigint",
  last_seq: "bigint",
} as const;

const CHANGES = {
  member_id: "text",
  status: "text",
  credits_redeemed: "integer",
  excluded_at: "bigint",
  exclusion_reason: "text",
  last_seq: "bigint",
} as const;

/**
 * members: a batch's events folded per member in memory, then written with one insert (members
 * admitted in the batch) and one update (members that existed before it), returned for the caller
 * to run (with the other tables' writes, see writeTogether). A row's last_seq is the last event
 * applied to it; an event at or below it is skipped, so a batch applied twice changes nothing.
 */
export async function memberWrites(
  trx: Trx,
  events: readonly Sequenced<MemberEvent>[],
): Promise<RawBuilder<unknown>[]> {
  const admitted = new Map<string, MemberRow>();
  const existing = await loadExisting(trx, events);
  const changed = new Set<Changes>();
  for (const { seq, event } of events) {
    switch (event.type) {
      case "MemberAdmitted": {
        // A member is admitted once (the decider refuses a second admission), so a member whose
        // first event in the batch is its admission has no row yet.
        if (admitted.has(event.memberId) || existing.has(event.memberId)) break;
        admitted.set(event.memberId, {
          member_id: event.memberId,
          public_key: event.publicKey,
          status: "active",
          kind: event.kind,
          sponsor_ids: event.sponsorIds.join(","),
          controller_id: event.controllerId || null,
          game_id: event.gameId || null,
          agreement_version: event.consent?.agreementVersion ?? null,
          display_name: event.displayName,
          admitted_at: event.admittedAt,
          credits_redeemed: 0,
          tainted: event.tainted ?? false,
          excluded_at: null,
          exclusion_reason: null,
          admitted_seq: seq,
          last_seq: seq,
        });
        break;
      }
      case "CreditRedeemed":
      case "MemberExcluded": {
        const row = admitted.get(event.memberId) ?? existing.get(event.memberId);
        if (!row || seq <= row.last_seq) break;
        if (event.type === "CreditRedeemed") row.credits_redeemed += 1;
        else {
          row.status = "excluded";
          row.excluded_at = event.excludedAt;
          row.exclusion_reason = event.reason;
        }
        row.last_seq = seq;
        if (!admitted.has(event.memberId)) changed.add(row);
        break;
      }
      case "CreditsGranted":
        break;
      default: {
        const unreachable: never = event;
        return unreachable;
      }
    }
  }
  const writes: RawBuilder<unknown>[] = [];
  if (admitted.size > 0) {
    writes.push(sql`
      insert into members (${sql.join(Object.keys(NEW_ROW).map((c) => sql.id(c)))})
      select member_id, public_key, status, kind, string_to_array(sponsor_ids, ','), controller_id, game_id,
        agreement_version, display_name, admitted_at, credits_redeemed, tainted, excluded_at, exclusion_reason,
        admitted_seq, last_seq
      from ${unnestRows(NEW_ROW, [...admitted.values()])}
      on conflict (member_id) do nothing
    `);
  }
  if (changed.size > 0) {
    writes.push(sql`
      update members m set status = u.status, credits_redeemed = u.credits_redeemed, excluded_at = u.excluded_at,
        exclusion_reason = u.exclusion_reason, last_seq = u.last_seq
      from ${unnestRows(CHANGES, [...changed])}
      where m.member_id = u.member_id and m.last_seq < u.last_seq
    `);
  }
  return writes;
}

/** The rows of members whose first event in the batch is not their admission. */
async function loadExisting(trx: Trx, events: readonly Sequenced<MemberEvent>[]): Promise<Map<string, Changes>> {
  const first = new Map<string, MemberEvent["type"]>();
  for (const { event } of events) {
    if (event.type !== "CreditsGranted" && !first.has(event.memberId)) first.set(event.memberId, event.type);
  }
  const ids = [...first].filter(([, type]) => type !== "MemberAdmitted").map(([id]) => id);
  if (ids.length === 0) return new Map();
  const rows = await trx
    .selectFrom("members")
    .select(["member_id", "status", "credits_redeemed", "excluded_at", "exclusion_reason", "last_seq"])
    .where(sql<boolean>`member_id = any(${ids}::text[])`)
    .execute();
  return new Map(
    rows.map((row) => [
      row.member_id,
      {
        ...row,
        excluded_at: row.excluded_at === null ? null : Number(row.excluded_at),
        last_seq: Number(row.last_seq),
      },
    ]),
  );
}
