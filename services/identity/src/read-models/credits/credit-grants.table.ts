import type { Selectable } from "kysely";
import type { Int8 } from "../members/members.table.js";

/** One row per CreditsGranted: admission credits a defector won in a game, and when they expire. */
export interface CreditGrantsTable {
  member_id: string;
  game_id: string;
  count: number;
  expires_at: Int8;
  granted_seq: Int8;
}

export type CreditGrantRow = Selectable<CreditGrantsTable>;
