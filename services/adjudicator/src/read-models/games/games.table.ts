import type { ColumnType, Selectable } from "kysely";

export interface GamesTable {
  game_id: string;
  phase: "commit" | "reveal" | "resolved";
  sponsor_a: string;
  sponsor_b: string;
  action_kind: string;
  policy_version: number;
  opened_at: ColumnType<string, string | number, string | number>;
  reveal_window_ms: ColumnType<string, string | number, string | number>;
  commit_deadline: ColumnType<string, string | number, string | number>;
  reveal_deadline: ColumnType<string | null, string | number | null, string | number | null>;
  /** When the clock next has to act on the game (null once resolved). */
  next_deadline: ColumnType<string | null, string | number | null, string | number | null>;
  committed_a: boolean;
  committed_b: boolean;
  revealed_a: boolean;
  revealed_b: boolean;
  move_a: string | null;
  move_b: string | null;
  outcome: string | null;
  resolved_at: ColumnType<string | null, string | number | null, string | number | null>;
  last_seq: ColumnType<string, string | number, string | number>;
}

export type GameRow = Selectable<GamesTable>;

export interface AdjudicatorDatabase {
  games: GamesTable;
}
