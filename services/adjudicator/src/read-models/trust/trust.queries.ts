import type { Kysely } from "kysely";
import type { AdjudicatorDatabase } from "../database.js";
import type { TrustEdgeRow } from "./trust-edges.table.js";

/** A trust edge from one member's side. */
export interface SidedEdge {
  readonly memberId: string;
  readonly partnerId: string;
  readonly row: TrustEdgeRow;
}

function sided(memberId: string, row: TrustEdgeRow): SidedEdge {
  return { memberId, partnerId: row.member_low === memberId ? row.member_high : row.member_low, row };
}

export async function edgeBetween(
  db: Kysely<AdjudicatorDatabase>,
  memberId: string,
  partnerId: string,
): Promise<SidedEdge | undefined> {
  const [low, high] = memberId < partnerId ? [memberId, partnerId] : [partnerId, memberId];
  const row = await db
    .selectFrom("trust_edges")
    .selectAll()
    .where("member_low", "=", low)
    .where("member_high", "=", high)
    .executeTakeFirst();
  return row && sided(memberId, row);
}

/** A member's edges ordered by partner id, after `afterPartner`, at most `limit`. */
export async function edgesOf(
  db: Kysely<AdjudicatorDatabase>,
  memberId: string,
  afterPartner: string,
  limit: number,
): Promise<SidedEdge[]> {
  // Partners above the member are in rows where it is member_low, those below where it is member_high.
  const [asLow, asHigh] = await Promise.all([
    db
      .selectFrom("trust_edges")
      .selectAll()
      .where("member_low", "=", memberId)
      .where("member_high", ">", afterPartner)
      .orderBy("member_high")
      .limit(limit)
      .execute(),
    db
      .selectFrom("trust_edges")
      .selectAll()
      .where("member_high", "=", memberId)
      .where("member_low", ">", afterPartner)
      .orderBy("member_low")
      .limit(limit)
      .execute(),
  ]);
  return [...asHigh, ...asLow]
    .map((row) => sided(memberId, row))
    .sort((x, y) => (x.partnerId < y.partnerId ? -1 : 1))
    .slice(0, limit);
}
