import type { Kysely } from "kysely";
import { orderedPair } from "../cooldowns/cooldowns.projection.js";
import type { PairCooldownRow } from "../cooldowns/pair-cooldowns.table.js";
import type { MatchmakerDatabase } from "../database.js";
import type { ProposalRow } from "./proposals.table.js";
import type { StakeRow } from "./stakes.table.js";

export function findStake(db: Kysely<MatchmakerDatabase>, memberId: string): Promise<StakeRow | undefined> {
  return db.selectFrom("stakes").selectAll().where("member_id", "=", memberId).executeTakeFirst();
}

export function findProposal(db: Kysely<MatchmakerDatabase>, proposalId: string): Promise<ProposalRow | undefined> {
  return db.selectFrom("proposals").selectAll().where("proposal_id", "=", proposalId).executeTakeFirst();
}

export function findCooldown(
  db: Kysely<MatchmakerDatabase>,
  memberId: string,
  partnerId: string,
): Promise<PairCooldownRow | undefined> {
  const [low, high] = orderedPair(memberId, partnerId);
  return db
    .selectFrom("pair_cooldowns")
    .selectAll()
    .where("member_low", "=", low)
    .where("member_high", "=", high)
    .executeTakeFirst();
}
