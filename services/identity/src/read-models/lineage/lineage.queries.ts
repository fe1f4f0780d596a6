import { sql, type Kysely } from "kysely";
import type { IdentityDatabase } from "../database.js";

/** One admission: `parent_id` sponsored (or controls) `child_id`. */
export interface LineageLink {
  readonly parent_id: string;
  readonly child_id: string;
  readonly relation: "sponsor" | "controller";
  readonly depth: number;
}

/** Most edges returned each way; how many rows the recursion may produce before it is cut short. */
export const MAX_LINEAGE_EDGES = 1_000;
const MAX_WALKED = 20_000;

/**
 * The admissions up from (ancestors) or down from (descendants) a member, to `depth` generations,
 * nearest first, read from members' sponsor_ids and controller_id: up is a primary-key lookup per
 * step, down a lookup in the GIN index on sponsor_ids and the index on controller_id. The
 * recursion walks breadth-first and stops after MAX_WALKED rows; an edge reachable by several
 * paths appears once, at its nearest depth.
 */
export async function lineage(
  db: Kysely<IdentityDatabase>,
  memberId: string,
  direction: "ancestors" | "descendants",
  depth: number,
): Promise<{ links: LineageLink[]; truncated: boolean }> {
  // A member's parents: its sponsors, or its controller.
  const parents = sql`
    select unnest(m.sponsor_ids) as parent_id, 'sponsor' as relation
    union all
    select m.controller_id, 'controller' where m.controller_id is not null`;
  const walk =
    direction === "ancestors"
      ? sql`
          with recursive walk (child_id, parent_id, relation, depth) as (
            select m.member_id, p.parent_id, p.relation, 1
            from members m cross join lateral (${parents}) p
            where m.member_id = ${memberId}
            union all
            select m.member_id, p.parent_id, p.relation, walk.depth + 1
            from walk join members m on m.member_id = walk.parent_id cross join lateral (${parents}) p
            where walk.depth < ${depth}
          )`
      : sql`
          with recursive walk (child_id, parent_id, relation, depth) as (
            select m.member_id, ${memberId}::text, case when m.controller_id = ${memberId} then 'controller' else 'sponsor' end, 1
            from members m
            where m.sponsor_ids @> array[${memberId}::text] or m.controller_id = ${memberId}
            union all
            select m.member_id, walk.child_id,
              case when m.controller_id = walk.child_id then 'controller' else 'sponsor' end, walk.depth + 1
            from walk join members m on m.sponsor_ids @> array[walk.child_id] or m.controller_id = walk.child_id
            where walk.depth < ${depth}
          )`;
  const { rows } = await sql<LineageLink & { walked: string }>`
    ${walk},
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
