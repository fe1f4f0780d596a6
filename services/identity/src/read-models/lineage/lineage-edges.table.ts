import type { Selectable } from "kysely";
import type { Int8 } from "../members/members.table.js";

/**
 * Who admitted whom: one row per sponsor of a sponsored member and one per controller of a
 * controlled member. The same facts are in members.sponsor_ids and controller_id; this table exists
 * so that descendants are an index lookup (parent_id) at every step of a recursive query.
 */
export interface LineageEdgesTable {
  child_id: string;
  parent_id: string;
  relation: "sponsor" | "controller";
  /** Stream sequence of the child's MemberAdmitted. */
  seq: Int8;
}

export type LineageEdgeRow = Selectable<LineageEdgesTable>;
