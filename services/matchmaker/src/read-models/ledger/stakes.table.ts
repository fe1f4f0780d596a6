import type { ColumnType, Selectable } from "kysely";

/** bigint columns: pg returns them as strings. */
export type Int8 = ColumnType<string, string | number, string | number>;

/** One row per member's staking slot. */
export interface StakesTable {
  member_id: string;
  excluded: boolean;
  /** The slot is locked by a game until then (0: never locked, or released). */
  locked_until: Int8;
  lock_game_id: string | null;
  /** The game the member is playing, until it is settled. */
  open_game_id: string | null;
  suspended_until: Int8;
  last_seq: Int8;
}

export type StakeRow = Selectable<StakesTable>;
