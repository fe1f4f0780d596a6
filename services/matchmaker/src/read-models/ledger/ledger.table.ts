import type { ColumnType, Selectable } from "kysely";

type Millis = ColumnType<string, string | number, string | number>;

export interface StakesTable {
  member_id: string;
  excluded: boolean;
  locked_until: Millis;
  lock_game_id: string | null;
  /** The game the member is playing, until it is settled. */
  open_game_id: string | null;
  suspended_until: Millis;
  last_seq: Millis;
}

export interface ProposalsTable {
  proposal_id: string;
  proposer_id: string;
  partner_id: string;
  action_kind: string;
  status: "pending" | "accepted" | "declined" | "cancelled";
  made_at: Millis;
  expires_at: Millis;
  last_seq: Millis;
}

export type StakeRow = Selectable<StakesTable>;
export type ProposalRow = Selectable<ProposalsTable>;

export interface MatchmakerDatabase {
  stakes: StakesTable;
  proposals: ProposalsTable;
}
