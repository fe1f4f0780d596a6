import { requestDigest, type AggregateRepository, type StoredEvent } from "@pot/event-store";
import { Outcome } from "@pot/contracts";
import {
  DEFAULT_POLICY,
  ForgedEventError,
  IllegalStateError,
  isPotError,
  NotFoundError,
  operatorAgreementPayload,
  operatorExcludePayload,
  operatorPolicyPayload,
  PermissionError,
  recordedActProblem,
  sameBytes,
  type ActionSpec,
  type OperatorAct,
  type RecordedOperatorAct,
} from "@pot/mechanism";
import {
  admissionForgery,
  operatorKeysSourceFromWire,
  operatorSignaturesFromWire,
  policyDigest,
  policyFromWire,
  resolutionAmountsClaimOf,
  resolutionEvidence,
  toNumber,
} from "@pot/wire";
import {
  decideLedger,
  evolveLedger,
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

/** Thrown when an operator act names a key set not learnt yet (it is on identity's stream): redelivered later. */
export class OperatorKeysNotYetKnown extends Error {
  override readonly name = "OperatorKeysNotYetKnown";
}

const { version: _defaultVersion, ...BUILT_IN_POLICY } = DEFAULT_POLICY;
const BUILT_IN_POLICY_DIGEST = policyDigest(BUILT_IN_POLICY);
/** How far up the controller links a lineage exclusion may be from the exclusion it repeats. */
const MAX_LINEAGE_DEPTH = 64;

function recordedAct(v: {
  operatorSignatures: { publicKey: Uint8Array; signature: Uint8Array }[];
  operatorKeysVersion: number;
}): RecordedOperatorAct {
  return { signatures: operatorSignaturesFromWire(v.operatorSignatures), keysVersion: v.operatorKeysVersion };
}

/** The matchmaker's use cases over its one aggregate, and its reactions to identity and adjudicator. */
export class Matchmaker {
  constructor(
    private readonly ledger: AggregateRepository<LedgerState, LedgerEvent>,
    private readonly now: () => number,
    /** This deployment's network id (POT_NETWORK_ID): every signature is checked against it. */
    private readonly networkId: string,
    /**
     * Waits (boundedly) until the reaction to identity has handled every identity event that exists now:
     * then a key set an adjudicator event names and the matchmaker does not know was never named.
     */
    private readonly identityCaughtUp: () => Promise<void> = async () => undefined,
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
    try {
      await this.onIdentityEventChecked(stored);
    } catch (error) {
      await this.refusedOrThrow(stored, error);
    }
  }

  private async onIdentityEventChecked(stored: StoredEvent): Promise<void> {
    const event = stored.envelope.event;
    switch (event?.$case) {
      case "operatorKeysRotated": {
        const source = operatorKeysSourceFromWire(event);
        if (!source) throw new PermissionError("OperatorKeysRotated names no keys");
        await this.react(stored, {
          type: "AdoptOperatorKeys",
          networkId: this.networkId,
          source,
          sourceEventId: stored.envelope.eventId,
        });
        return;
      }
      case "networkBootstrapped":
      case "agreementPublished": {
        const commands: LedgerCommand[] = [];
        if (event.$case === "networkBootstrapped") {
          // The genesis names the operator keys (re-checked: signed by them). A forced re-bootstrap's own
          // signatures are re-checked by `pot verify`; here it can only bring a newer agreement version.
          const source = operatorKeysSourceFromWire(event);
          if (source) {
            commands.push({
              type: "AdoptOperatorKeys",
              networkId: this.networkId,
              source,
              sourceEventId: stored.envelope.eventId,
            });
          }
        }
        const agreement = event.value.agreement;
        if (agreement) {
          commands.push({
            type: "AdoptAgreement",
            agreement: { version: agreement.version, hash: agreement.hash, uri: agreement.uri },
          });
        }
        // One decision for the event (its id is the causation: a second append under it would be a repeat).
        await this.react(
          stored,
          commands,
          event.$case === "agreementPublished" && agreement
            ? {
                name: "agreement",
                act: recordedAct(event.value),
                payload: operatorAgreementPayload(
                  this.networkId,
                  event.value.requestId,
                  agreement.version,
                  agreement.hash,
                  agreement.uri,
                ),
              }
            : undefined,
        );
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
      case "memberExcluded": {
        const v = event.value;
        // An exclusion of a controlled lineage repeats the act of the exclusion it follows from.
        const root = v.rootMemberId === "" ? v.memberId : v.rootMemberId;
        const reason = v.rootMemberId === "" ? v.reason : v.rootReason;
        await this.react(
          stored,
          {
            type: "ExcludeSponsor",
            memberId: v.memberId,
            accountableSponsorIds: v.sponsorIds,
            now: toNumber(v.excludedAtMs),
          },
          {
            name: "exclude",
            act: recordedAct(v),
            payload: operatorExcludePayload(this.networkId, v.requestId, root, reason),
            also: (state) => {
              if (root === v.memberId) return undefined;
              // The excluded member must be in the root's controlled lineage, as the ledger learnt it.
              let at = v.memberId;
              for (let depth = 0; depth < MAX_LINEAGE_DEPTH; depth++) {
                const controller = state.slots.get(at)?.admission?.controllerId ?? "";
                if (controller === "") break;
                if (controller === root) return undefined;
                at = controller;
              }
              return `member ${v.memberId} is not in the controlled lineage of ${root}, whose exclusion it names`;
            },
          },
        );
        return;
      }
      default:
        return;
    }
  }

  async onAdjudicatorEvent(stored: StoredEvent): Promise<void> {
    try {
      try {
        await this.onAdjudicatorEventChecked(stored);
      } catch (error) {
        if (!(error instanceof OperatorKeysNotYetKnown)) throw error;
        // Keys are named on identity's stream: once every identity event of now is handled, a set still
        // unknown was never named (a forgery), not merely late.
        await this.identityCaughtUp();
        await this.onAdjudicatorEventChecked(stored).catch((again: unknown) => {
          throw again instanceof OperatorKeysNotYetKnown
            ? new PermissionError(`${again.message}, and identity's stream never named it`)
            : again;
        });
      }
    } catch (error) {
      await this.refusedOrThrow(stored, error);
    }
  }

  private async onAdjudicatorEventChecked(stored: StoredEvent): Promise<void> {
    const event = stored.envelope.event;
    switch (event?.$case) {
      case "policyPublished": {
        const v = event.value;
        const policy = policyFromWire(v.policy);
        const { version, ...content } = policy;
        const digest = policyDigest(content);
        const unsigned = v.requestId === "" && v.operatorSignatures.length === 0;
        await this.react(
          stored,
          { type: "AdoptPolicy", policy },
          // Only the built-in default, as the adjudicator publishes it on its first start, is unsigned.
          unsigned && version === 1 && sameBytes(digest, BUILT_IN_POLICY_DIGEST)
            ? undefined
            : {
                name: "policy",
                act: recordedAct(v),
                payload: operatorPolicyPayload(this.networkId, v.requestId, version, digest),
              },
        );
        return;
      }
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
        // The amounts (credits, suspension ends) no member signs: the ledger recomputes them from the
        // policy the game opened under.
        const amounts = resolutionAmountsClaimOf(event.value);
        if (amounts.forgery !== undefined) {
          throw new ForgedEventError("GameResolved", `GameResolved of game ${event.value.gameId}: ${amounts.forgery}`);
        }
        const { suspensions, ...resolution } = amounts.claim;
        await this.react(stored, {
          type: "SettleGame",
          gameId: event.value.gameId,
          sponsorIds: [event.value.sponsorA?.memberId ?? "", event.value.sponsorB?.memberId ?? ""],
          suspensions,
          released: event.value.outcome === Outcome.OUTCOME_CANCELLED,
          resolution,
        });
        return;
      }
      default:
        return;
    }
  }

  /**
   * Decides `command` in reaction to `stored`; with `check`, only once the operator act the event
   * records is a quorum of the key set it names (OperatorKeysNotYetKnown when that set is not learnt
   * yet, PermissionError when the act does not check out: a forgery).
   */
  private react(
    stored: StoredEvent,
    commands: LedgerCommand | readonly LedgerCommand[],
    check?: {
      name: OperatorAct;
      act: RecordedOperatorAct;
      payload: Uint8Array;
      also?: (state: LedgerState) => string | undefined;
    },
  ) {
    return this.ledger.execute(
      LEDGER_ID,
      {
        causationId: stored.envelope.eventId,
        correlationId: stored.envelope.correlationId,
        now: new Date(this.now()),
      },
      (state) => {
        if (check) {
          const problem =
            recordedActProblem(state.operatorSets, check.act, check.name, check.payload) ?? check.also?.(state);
          if (problem === "unknown-keys") {
            throw new OperatorKeysNotYetKnown(
              `${stored.envelope.type} ${stored.envelope.eventId} names operator key set ${check.act.keysVersion}, not learnt yet`,
            );
          }
          if (problem !== undefined) throw new PermissionError(problem);
        }
        const events: LedgerEvent[] = [];
        let current = state;
        for (const command of Array.isArray(commands) ? commands : [commands]) {
          for (const event of decideLedger(command, current)) {
            current = evolveLedger(current, event);
            events.push(event);
          }
        }
        return events;
      },
    );
  }

  /**
   * A forged operator act is refused with a ForgedEventError, never acted on: refusingForgedEvents and
   * the reactor log it, count it and dead-letter it (kind forged). Anything else is retried.
   */
  private async refusedOrThrow(stored: StoredEvent, error: unknown): Promise<void> {
    if (!isPotError(error) || error.code !== "permission") throw error;
    throw new ForgedEventError(stored.envelope.type.replace("pot.v1.", ""), error.message);
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
