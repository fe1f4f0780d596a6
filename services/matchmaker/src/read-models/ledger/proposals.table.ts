import type { Selectable } from "kysely";
import type { Int8 } from "./stakes.table.js";

/** One row per proposal; a game's id is its proposal's id. */
export interface ProposalsTable {
  proposal_id: string;
  proposer_id: string;
  partner_id: string;
  action_kind: string;
  status: "pending" | "accepted" | "declined" | "cancelled";
  made_at: Int8;
  expires_at: Int8;
  last_seq: Int8;
}

export type ProposalRow = Selectable<ProposalsTable>;
