import type { Selectable } from "kysely";
import type { Int8 } from "../games/games.table.js";

/** The resolved games of one unordered pair of members (member_low < member_high), from GameResolved. */
export interface TrustEdgesTable {
  member_low: string;
  member_high: string;
  games: number;
  mutual_cooperations: number;
  /** Games in which member_low revealed DEFECT. */
  low_defections: number;
  high_defections: number;
  /** Games in which both defected (counted in both fields above too). */
  mutual_defections: number;
  no_shows: number;
  cancelled: number;
  last_game_id: string;
  last_resolved_at: Int8;
  last_seq: Int8;
}

export type TrustEdgeRow = Selectable<TrustEdgesTable>;
