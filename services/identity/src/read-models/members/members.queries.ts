import { sql, type Kysely } from "kysely";
import type { CreditGrantRow } from "../credits/credit-grants.table.js";
import type { IdentityDatabase } from "../database.js";
import type { MemberRow, MembersTable } from "./members.table.js";

export async function findMember(db: Kysely<IdentityDatabase>, memberId: string): Promise<MemberRow | undefined> {
  return db.selectFrom("members").selectAll().where("member_id", "=", memberId).executeTakeFirst();
}

/** Members in admission order after `afterSeq`, at most `limit`, optionally of one status and kind. */
export async function listMembers(
  db: Kysely<IdentityDatabase>,
  filter: { status?: MembersTable["status"]; kind?: MembersTable["kind"]; afterSeq: number; limit: number },
): Promise<MemberRow[]> {
  let query = db
    .selectFrom("members")
    .selectAll()
    .where("admitted_seq", ">", String(filter.afterSeq))
    .orderBy("admitted_seq")
    .limit(filter.limit);
  if (filter.status) query = query.where("status", "=", filter.status);
  if (filter.kind) query = query.where("kind", "=", filter.kind);
  return query.execute();
}

/** The credit grants of some members, by member id. */
export async function grantsOf(
  db: Kysely<IdentityDatabase>,
  memberIds: readonly string[],
): Promise<Map<string, CreditGrantRow[]>> {
  const out = new Map<string, CreditGrantRow[]>();
  if (memberIds.length === 0) return out;
  const rows = await db
    .selectFrom("credit_grants")
    .selectAll()
    .where(sql<boolean>`member_id = any(${[...memberIds]}::text[])`)
    .orderBy("granted_seq")
    .execute();
  for (const row of rows) out.set(row.member_id, [...(out.get(row.member_id) ?? []), row]);
  return out;
}
