import { sql, type Transaction } from "kysely";
import { unnestRows } from "@pot/projections";
import type { MemberEvent } from "../../domain/index.js";
import type { IdentityDatabase } from "../database.js";
import type { Sequenced } from "../sequenced.js";
import type { LineageEdgesTable } from "./lineage-edges.table.js";

const EDGE = { child_id: "text", parent_id: "text", relation: "text", seq: "bigint" } as const;

/** lineage_edges: a sponsored member's two sponsors, a controlled member's controller; one insert per batch. */
export async function applyLineage(
  trx: Transaction<IdentityDatabase>,
  events: readonly Sequenced<MemberEvent>[],
): Promise<void> {
  const edges: { child_id: string; parent_id: string; relation: LineageEdgesTable["relation"]; seq: number }[] = [];
  for (const { seq, event } of events) {
    if (event.type !== "MemberAdmitted") continue;
    if (event.kind === "sponsored") {
      for (const sponsor of new Set(event.sponsorIds)) {
        edges.push({ child_id: event.memberId, parent_id: sponsor, relation: "sponsor", seq });
      }
    } else if (event.kind === "controlled" && event.controllerId) {
      edges.push({ child_id: event.memberId, parent_id: event.controllerId, relation: "controller", seq });
    }
  }
  if (edges.length === 0) return;
  await sql`
    insert into lineage_edges (child_id, parent_id, relation, seq)
    select * from ${unnestRows(EDGE, edges)}
    on conflict (child_id, parent_id) do nothing
  `.execute(trx);
}
