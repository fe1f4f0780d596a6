import type { ColumnType, Selectable } from "kysely";
import type { Int8 } from "../games/games.table.js";

/** The network's games per UTC day: openings (by opened_at) and resolutions (by resolved_at). */
export interface NetworkStatsDailyTable {
  /** Selected as text (pg would return a Date). */
  day: ColumnType<string, string, string>;
  games_started: number;
  games_resolved: number;
  both_cooperated: number;
  a_defected: number;
  b_defected: number;
  both_defected: number;
  no_show: number;
  cancelled: number;
  /** Moves revealed in games resolved by both reveals. */
  cooperations: number;
  defections: number;
  /** Suspensions the resolutions imposed. */
  suspensions: number;
  /** Sponsored admissions decided. */
  admissions: number;
  /** Generic actions granted. */
  grants: number;
  credits_awarded: number;
  last_seq: Int8;
}

export type NetworkStatsDailyRow = Selectable<NetworkStatsDailyTable>;
