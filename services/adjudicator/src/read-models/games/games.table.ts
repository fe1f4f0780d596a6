import type { ColumnType, Selectable } from "kysely";

/** bigint columns: pg returns them as strings. */
export type Int8 = ColumnType<string, string | number, string | number>;
type NullableInt8 = ColumnType<string | null, string | number | null, string | number | null>;

/** One row per game, from GameStarted to GameResolved. */
export interface GamesTable {
  game_id: string;
  phase: "commit" | "reveal" | "resolved";
  sponsor_a: string;
  sponsor_b: string;
  /** "admission" or the generic action's kind. */
  action_kind: string;
  /** SHA-256 of the action as the proposal signed it (actionDigest). */
  action_digest: Uint8Array;
  /** The candidate's member id, for an admission game. */
  candidate_id: string | null;
  policy_version: number;
  opened_at: Int8;
  reveal_window_ms: Int8;
  commit_deadline: Int8;
  reveal_deadline: NullableInt8;
  /** When the clock next has to act on the game (null once resolved); the deadline sweep reads it. */
  next_deadline: NullableInt8;
  committed_a: boolean;
  committed_b: boolean;
  revealed_a: boolean;
  revealed_b: boolean;
  move_a: "cooperate" | "defect" | null;
  move_b: "cooperate" | "defect" | null;
  outcome: string | null;
  resolved_at: NullableInt8;
  /** Stream sequence of the GameStarted: the listing order. */
  started_seq: Int8;
  last_seq: Int8;
}

export type GameRow = Selectable<GamesTable>;
