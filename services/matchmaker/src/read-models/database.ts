import type { PairCooldownsTable } from "./cooldowns/pair-cooldowns.table.js";
import type { ProposalsTable } from "./ledger/proposals.table.js";
import type { StakesTable } from "./ledger/stakes.table.js";

/** The matchmaker schema as the read models see it. */
export interface MatchmakerDatabase {
  stakes: StakesTable;
  proposals: ProposalsTable;
  pair_cooldowns: PairCooldownsTable;
}
