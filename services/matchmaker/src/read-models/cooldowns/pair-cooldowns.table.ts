import type { Selectable } from "kysely";
import type { Int8 } from "../ledger/stakes.table.js";

/** One row per pair of members who opened a game together: member_low < member_high. */
export interface PairCooldownsTable {
  member_low: string;
  member_high: string;
  /** They may open another game together from then. */
  until: Int8;
  /** The opening that set it. */
  game_id: string;
  last_seq: Int8;
}

export type PairCooldownRow = Selectable<PairCooldownsTable>;
