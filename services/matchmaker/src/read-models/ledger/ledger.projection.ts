import { sql, type Transaction } from "kysely";
import type { StoredEvent } from "@pot/event-store";
import type { Projection } from "@pot/projections";
import { ledgerEventFromWire } from "../../adapters/nats/codec.js";
import type { MatchmakerDatabase } from "./ledger.table.js";

type Trx = Transaction<MatchmakerDatabase>;

/** Staking slots and proposals. Each write is guarded by `last_seq < seq`, so a replay is a no-op. */
export const ledgerProjection: Projection<MatchmakerDatabase> = {
  name: "ledger",
  async apply(trx: Trx, events: readonly StoredEvent[]) {
    for (const stored of events) {
      const event = ledgerEventFromWire(stored.envelope);
      if (!event) continue;
      const seq = stored.seq;
      switch (event.type) {
        case "SponsorRegistered":
          await trx
            .insertInto("stakes")
            .values({
              member_id: event.memberId,
              excluded: false,
              locked_until: 0,
              lock_game_id: null,
              open_game_id: null,
              suspended_until: 0,
              last_seq: seq,
            })
            .onConflict((oc) => oc.column("member_id").doNothing())
            .execute();
          break;
        case "SponsorExcluded":
          await updateStake(trx, event.memberId, seq, { excluded: true });
          await suspend(trx, event.suspensions, seq);
          if (event.cancelledProposalIds.length > 0) {
            await trx
              .updateTable("proposals")
              .set({ status: "cancelled", last_seq: seq })
              .where("proposal_id", "in", [...event.cancelledProposalIds])
              .where("status", "=", "pending")
              .where("last_seq", "<", String(seq))
              .execute();
          }
          break;
        case "PolicyAdopted":
        case "AgreementAdopted":
          break;
        case "ProposalMade":
          await trx
            .insertInto("proposals")
            .values({
              proposal_id: event.proposalId,
              proposer_id: event.proposerId,
              partner_id: event.partnerId,
              action_kind: event.action.type === "admission" ? "admission" : event.action.kind,
              status: "pending",
              made_at: event.madeAt,
              expires_at: event.expiresAt,
              last_seq: seq,
            })
            .onConflict((oc) => oc.column("proposal_id").doNothing())
            .execute();
          break;
        case "ProposalDeclined":
        case "ProposalCancelled":
          await trx
            .updateTable("proposals")
            .set({ status: event.type === "ProposalDeclined" ? "declined" : "cancelled", last_seq: seq })
            .where("proposal_id", "=", event.proposalId)
            .where("last_seq", "<", String(seq))
            .execute();
          break;
        case "GameOpened":
          await trx
            .updateTable("proposals")
            .set({ status: "accepted", last_seq: seq })
            .where("proposal_id", "=", event.gameId)
            .where("last_seq", "<", String(seq))
            .execute();
          for (const sponsor of [event.sponsorA, event.sponsorB]) {
            await updateStake(trx, sponsor.memberId, seq, {
              locked_until: event.stakeLockedUntil,
              lock_game_id: event.gameId,
              open_game_id: event.gameId,
            });
          }
          break;
        case "StakesSettled":
          if (event.released) {
            await trx
              .updateTable("stakes")
              .set({ locked_until: 0, lock_game_id: null })
              .where("lock_game_id", "=", event.gameId)
              .where("last_seq", "<", String(seq))
              .execute();
          }
          await trx
            .updateTable("stakes")
            .set({ open_game_id: null, last_seq: seq })
            .where("open_game_id", "=", event.gameId)
            .where("last_seq", "<", String(seq))
            .execute();
          await suspend(trx, event.suspensions, seq);
          break;
        default: {
          const unreachable: never = event;
          return unreachable;
        }
      }
    }
  },
};

async function updateStake(
  trx: Trx,
  memberId: string,
  seq: number,
  set: Partial<{ excluded: boolean; locked_until: number; lock_game_id: string | null; open_game_id: string | null }>,
) {
  await trx
    .updateTable("stakes")
    .set({ ...set, last_seq: seq })
    .where("member_id", "=", memberId)
    .where("last_seq", "<", String(seq))
    .execute();
}

async function suspend(trx: Trx, suspensions: readonly { memberId: string; untilMs: number }[], seq: number) {
  for (const { memberId, untilMs } of suspensions) {
    await trx
      .updateTable("stakes")
      .set({ suspended_until: sql`greatest(suspended_until, ${untilMs})`, last_seq: seq })
      .where("member_id", "=", memberId)
      .where("last_seq", "<=", String(seq))
      .execute();
  }
}
