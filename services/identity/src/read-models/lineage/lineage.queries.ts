import { sql, type Kysely } from "kysely";
import type { IdentityDatabase } from "../database.js";
import type { LineageEdgesTable } from "./lineage-edges.table.js";

export interface LineageLink {
  readonly parent_id: string;
  readonly child_id: string;
  readonly relation: LineageEdgesTable["relation"];
  readonly depth: number;
}

/** Most edges returned each way; how many rows the recursion may produce before it is cut short. */
export const MAX_LINEAGE_EDGES = 1_000;
const MAX_WALKED = 20_000;

/**
 * The edges up from (ancestors) or down from (descendants) a member, to `depth` generations,
 * nearest first. The recursion walks breadth-first over the indexed lineage_edges, at most
 * MAX_WALKED rows (a member reachable by several paths appears once, at its nearest depth).
 */
export async function lineage(
  db: Kysely<IdentityDatabase>,
  memberId: string,
  direction: "ancestors" | "descendants",
  depth: number,
): Promise<{ links: LineageLink[]; truncated: boolean }> {
  const up = direction === "ancestors";
  const start = up ? sql`child_id` : sql`parent_id`;
  const next = up ? sql`e.child_id = walk.parent_id` : sql`e.parent_id = walk.child_id`;
  const { rows } = await sql<{
    parent_id: string;
    child_id: string;
    relation: LineageLink["relation"];
    depth: number;
    walked: string;
  }>`
    with recursive walk (child_id, parent_id, relation, depth) as (
      select child_id, parent_id, relation, 1 from lineage_edges where ${start} = ${memberId}
      union all
      select e.child_id, e.parent_id, e.relation, walk.depth + 1
      from walk join lineage_edges e on ${next}
      where walk.depth < ${depth}
    ),
    walked as (select * from walk limit ${MAX_WALKED})
    select parent_id, child_id, relation, min(depth)::int as depth, (select count(*) from walked) as walked
    from walked
    group by parent_id, child_id, relation
    order by depth, child_id, parent_id
    limit ${MAX_LINEAGE_EDGES + 1}
  `.execute(db);
  const truncated = rows.length > MAX_LINEAGE_EDGES || Number(rows[0]?.walked ?? 0) >= MAX_WALKED;
  return {
    links: rows.slice(0, MAX_LINEAGE_EDGES).map(({ walked: _walked, ...link }) => link),
    truncated,
  };
}
