import { requestDigest, type AggregateRepository, type StoredEvent } from "@pot/event-store";
import { Outcome } from "@pot/contracts";
import { ForgedEventError, IllegalStateError, NotFoundError, type ActionSpec } from "@pot/mechanism";
import { admissionForgery, policyFromWire, resolutionEvidence, toNumber } from "@pot/wire";
import {
  decideLedger,
  LEDGER_ID,
  proposalEndSentence,
  type Answer,
  type LedgerCommand,
  type LedgerEvent,
  type LedgerState,
} from "../domain/index.js";
import { admissionFromWire } from "../adapters/nats/codec.js";

export interface Traced {
  readonly headers?: Record<string, string>;
}

/** The matchmaker's use cases over its one aggregate, and its reactions to identity and adjudicator. */
export class Matchmaker {
  constructor(
    private readonly ledger: AggregateRepository<LedgerState, LedgerEvent>,
    private readonly now: () => number,
    /** This deployment's network id (POT_NETWORK_ID): every signature is checked against it. */
    private readonly networkId: string,
  ) {}

  async propose(
    input: { proposalId: string; proposerId: string; partnerId: string; action: ActionSpec; signature: Uint8Array },
    traced: Traced = {},
  ) {
    const now = this.now();
    const { proposalId, ...content } = input;
    const request = { digest: requestDigest(content), describe: `proposal_id ${proposalId}` };
    const result = await this.run(
      `propose:${input.proposalId}`,
      input.proposalId,
      now,
      traced,
      { type: "Propose", ...input, networkId: this.networkId, now },
      request,
    );
    // What the proposal's first call recorded answers every retry of it, whatever happened since.
    const made = result.caused?.events.find((event) => event.type === "ProposalMade");
    if (made?.type === "ProposalMade") {
      return { proposalId: made.proposalId, expiresAt: made.expiresAt, sequence: result.seq };
    }
    const proposal = result.state.proposals.get(input.proposalId);
    if (!proposal) {
      // A redelivered request (replayed by causation id) whose proposal has since been retired.
      const ended = result.state.retiredProposals.get(input.proposalId);
      if (ended) throw new IllegalStateError(`proposal ${input.proposalId} ${proposalEndSentence(ended)}`);
      throw new NotFoundError(`proposal ${input.proposalId} was not recorded`);
    }
    return { proposalId: proposal.proposalId, expiresAt: proposal.expiresAt, sequence: result.seq };
  }

  async answer(input: Omit<Answer, "now" | "networkId">, traced: Traced = {}) {
    const now = this.now();
    const command = { ...input, networkId: this.networkId, now } as LedgerCommand;
    const request = {
      digest: requestDigest({ signature: input.signature }),
      describe: `the ${input.type.toLowerCase()} of proposal ${input.proposalId} by member ${input.memberId}`,
    };
    const result = await this.run(
      `${input.type.toLowerCase()}:${input.proposalId}:${input.memberId}`,
      input.proposalId,
      now,
      traced,
      command,
      request,
    );
    const opened = result.caused?.events.find((event) => event.type === "GameOpened");
    if (opened?.type === "GameOpened") return { sequence: result.seq, stakeLockedUntil: opened.stakeLockedUntil };
    const slot = result.state.slots.get(input.memberId);
    return { sequence: result.seq, stakeLockedUntil: slot?.lockGameId === input.proposalId ? slot.lockedUntil : 0 };
  }

  async onIdentityEvent(stored: StoredEvent): Promise<void> {
    const event = stored.envelope.event;
    switch (event?.$case) {
      case "networkBootstrapped":
      case "agreementPublished": {
        const agreement = event.value.agreement;
        if (agreement)
          await this.react(stored, {
            type: "AdoptAgreement",
            agreement: { version: agreement.version, hash: agreement.hash, uri: agreement.uri },
          });
        return;
      }
      case "memberAdmitted": {
        // A member is registered only on the signatures that admitted it (admissionForgery).
        const forgery = admissionForgery(this.networkId, event.value);
        if (forgery) {
          throw new ForgedEventError("MemberAdmitted", `MemberAdmitted of member ${event.value.memberId}: ${forgery}`);
        }
        // The lineage and admission time the growth rules need; none for an event recorded before them.
        const admission = admissionFromWire(event.value);
        await this.react(stored, {
          type: "RegisterSponsor",
          memberId: event.value.memberId,
          publicKey: event.value.publicKey,
          ...(admission ? { admission } : {}),
        });
        return;
      }
      case "memberExcluded":
        await this.react(stored, {
          type: "ExcludeSponsor",
          memberId: event.value.memberId,
          accountableSponsorIds: event.value.sponsorIds,
          now: toNumber(event.value.excludedAtMs),
        });
        return;
      default:
        return;
    }
  }

  async onAdjudicatorEvent(stored: StoredEvent): Promise<void> {
    const event = stored.envelope.event;
    switch (event?.$case) {
      case "policyPublished":
        await this.react(stored, { type: "AdoptPolicy", policy: policyFromWire(event.value.policy) });
        return;
      case "stakePeriodRetargeted":
        await this.react(stored, {
          type: "AdoptStakePeriod",
          policyVersion: event.value.policyVersion,
          interval: toNumber(event.value.interval),
          stakePeriodMs: toNumber(event.value.newStakePeriodMs),
        });
        return;
      case "gameResolved": {
        // Stakes are settled only on the signatures that resolved the game (resolutionEvidence); the
        // ledger then checks the game is the one it opened, and a cancellation one it caused.
        const { forgery } = resolutionEvidence(this.networkId, event.value);
        if (forgery) {
          throw new ForgedEventError("GameResolved", `GameResolved of game ${event.value.gameId}: ${forgery}`);
        }
        await this.react(stored, {
          type: "SettleGame",
          gameId: event.value.gameId,
          sponsorIds: [event.value.sponsorA?.memberId ?? "", event.value.sponsorB?.memberId ?? ""],
          suspensions: event.value.suspensions.map((s) => ({ memberId: s.memberId, untilMs: toNumber(s.untilMs) })),
          released: event.value.outcome === Outcome.OUTCOME_CANCELLED,
        });
        return;
      }
      default:
        return;
    }
  }

  private react(stored: StoredEvent, command: LedgerCommand) {
    return this.ledger.execute(
      LEDGER_ID,
      {
        causationId: stored.envelope.eventId,
        correlationId: stored.envelope.correlationId,
        now: new Date(this.now()),
      },
      (state) => decideLedger(command, state),
    );
  }

  private run(
    causationId: string,
    correlationId: string,
    now: number,
    traced: Traced,
    command: LedgerCommand,
    request: { digest: string; describe: string },
  ) {
    return this.ledger.execute(
      LEDGER_ID,
      {
        causationId,
        correlationId,
        now: new Date(now),
        request,
        ...(traced.headers ? { headers: traced.headers } : {}),
      },
      (state) => decideLedger(command, state),
    );
  }
}
