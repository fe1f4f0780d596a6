import { requestDigest, type AggregateRepository, type StoredEvent } from "@pot/event-store";
import {
  ForgedEventError,
  IllegalStateError,
  memberIdOf,
  NotFoundError,
  type OperatorKeys,
  type OperatorSignature,
} from "@pot/mechanism";
import { resolutionEvidence, toNumber } from "@pot/wire";
import { consentFromWire, exclusionActFromWire } from "../adapters/nats/codec.js";
import {
  controlledLineageExclusions,
  decideMember,
  availableCredits,
  currentAgreement,
  decideNetwork,
  NETWORK_ID,
  taintedBy,
  type Consent,
  type GenesisMember,
  type MemberCommand,
  type MemberEvent,
  type MemberState,
  type NetworkEvent,
  type NetworkState,
} from "../domain/index.js";

export interface IdentityDeps {
  /** This deployment's network id (POT_NETWORK_ID): every signature is checked against it. */
  readonly networkId: string;
  readonly network: AggregateRepository<NetworkState, NetworkEvent>;
  readonly members: AggregateRepository<MemberState, MemberEvent>;
  readonly now: () => number;
}

export interface Traced {
  readonly headers?: Record<string, string>;
}

export class Identity {
  constructor(private readonly deps: IdentityDeps) {}

  /** Records the genesis; the members themselves are admitted by the reaction to that event. */
  async bootstrap(
    input: {
      requestId: string;
      networkId: string;
      members: readonly GenesisMember[];
      agreement: { hash: Uint8Array; uri: string };
      force: boolean;
      operatorKeys: readonly Uint8Array[];
      operatorThreshold: number;
      signatures: readonly OperatorSignature[];
    },
    traced: Traced = {},
  ) {
    const result = await this.deps.network.execute(
      NETWORK_ID,
      {
        causationId: `bootstrap:${input.requestId}`,
        now: new Date(this.deps.now()),
        request: {
          digest: requestDigest({
            members: input.members,
            agreement: input.agreement,
            force: input.force,
            operatorKeys: input.operatorKeys,
            operatorThreshold: input.operatorThreshold,
          }),
          describe: `request_id ${input.requestId}`,
        },
        ...traced,
      },
      (state) =>
        decideNetwork(
          {
            type: "Bootstrap",
            requestId: input.requestId,
            members: input.members,
            agreement: input.agreement,
            force: input.force,
            networkId: input.networkId,
            configuredNetworkId: this.deps.networkId,
            operatorKeys: input.operatorKeys,
            operatorThreshold: input.operatorThreshold,
            signatures: input.signatures,
          },
          state,
        ),
    );
    return { memberIds: input.members.map((m) => memberIdOf(m.publicKey)), sequence: result.seq };
  }

  /** The network id, the agreement and the operator keys in force now, read from the network's own log. */
  async agreement(): Promise<{
    networkId: string;
    bootstrapped: boolean;
    agreement: ReturnType<typeof currentAgreement>;
    operators: OperatorKeys | undefined;
    bootstraps: number;
  }> {
    const { state } = await this.deps.network.load(NETWORK_ID);
    return {
      networkId: this.deps.networkId,
      bootstrapped: state.bootstrapped,
      agreement: currentAgreement(state),
      operators: state.operators,
      bootstraps: state.bootstraps,
    };
  }

  /** Replaces the operator keys; signed by a quorum of the current ones. */
  async rotateOperatorKeys(
    input: {
      requestId: string;
      keys: readonly Uint8Array[];
      threshold: number;
      signatures: readonly OperatorSignature[];
    },
    traced: Traced = {},
  ) {
    const result = await this.deps.network.execute(
      NETWORK_ID,
      {
        causationId: `rotate-operators:${input.requestId}`,
        now: new Date(this.deps.now()),
        request: {
          digest: requestDigest({ keys: input.keys, threshold: input.threshold }),
          describe: `request_id ${input.requestId}`,
        },
        ...traced,
      },
      (state) =>
        decideNetwork(
          {
            type: "RotateOperatorKeys",
            requestId: input.requestId,
            keys: input.keys,
            threshold: input.threshold,
            networkId: this.deps.networkId,
            signatures: input.signatures,
          },
          state,
        ),
    );
    const rotated = result.caused?.events.find((event) => event.type === "OperatorKeysRotated");
    if (rotated?.type !== "OperatorKeysRotated") throw new IllegalStateError("no operator keys were rotated");
    return { version: rotated.operators.version, sequence: result.seq };
  }

  async publishAgreement(
    input: { requestId: string; hash: Uint8Array; uri: string; signatures: readonly OperatorSignature[] },
    traced: Traced = {},
  ) {
    const result = await this.deps.network.execute(
      NETWORK_ID,
      {
        causationId: `agreement:${input.requestId}`,
        now: new Date(this.deps.now()),
        request: {
          digest: requestDigest({ hash: input.hash, uri: input.uri }),
          describe: `request_id ${input.requestId}`,
        },
        ...traced,
      },
      (state) =>
        decideNetwork(
          {
            type: "PublishAgreement",
            requestId: input.requestId,
            hash: input.hash,
            uri: input.uri,
            networkId: this.deps.networkId,
            signatures: input.signatures,
          },
          state,
        ),
    );
    const published = result.caused?.events.find((event) => event.type === "AgreementPublished");
    if (published?.type === "AgreementPublished") return { version: published.agreement.version, sequence: result.seq };
    const agreement = currentAgreement(result.state);
    if (!agreement) throw new NotFoundError("no agreement was recorded");
    return { version: agreement.version, sequence: result.seq };
  }

  /**
   * Spends one credit of the member (the append on its subject is the spend, guarded by optimistic
   * concurrency); the controlled identity is then admitted from that event, here and by the
   * reaction that completes it after a crash.
   */
  async redeemCredit(
    input: { requestId: string; memberId: string; consent: Consent; signature: Uint8Array },
    traced: Traced = {},
  ) {
    const candidateId = memberIdOf(input.consent.candidatePublicKey);
    const [{ state: network }, { state: candidate }] = await Promise.all([
      this.deps.network.load(NETWORK_ID),
      this.deps.members.load(candidateId),
    ]);
    const now = this.deps.now();
    const spent = await this.deps.members.execute(
      input.memberId,
      {
        causationId: `redeem:${input.requestId}`,
        now: new Date(now),
        request: {
          digest: requestDigest({ consent: input.consent, signature: input.signature }),
          describe: `request_id ${input.requestId} of member ${input.memberId}`,
        },
        ...traced,
      },
      (state) =>
        decideMember(
          {
            type: "RedeemCredit",
            networkId: this.deps.networkId,
            requestId: input.requestId,
            consent: input.consent,
            signature: input.signature,
            agreement: currentAgreement(network),
            candidateExists: candidate.status !== "none",
            now,
          },
          state,
        ),
    );
    const admitted = await this.admitControlled(
      input.memberId,
      input.consent,
      { signature: input.signature, requestId: input.requestId },
      now,
      `redeem:${input.requestId}`,
      traced.headers,
    );
    // A retry answers with the credits left as of the first redemption's time.
    const redeemed = spent.caused?.events.find((event) => event.type === "CreditRedeemed");
    const at = redeemed?.type === "CreditRedeemed" ? redeemed.redeemedAt : now;
    return {
      admittedMemberId: candidateId,
      creditsLeft: availableCredits(spent.state, at),
      sequence: Math.max(spent.seq, admitted.seq),
    };
  }

  async exclude(
    input: { requestId: string; memberId: string; reason: string; signatures: readonly OperatorSignature[] },
    traced: Traced = {},
  ) {
    const now = this.deps.now();
    const { state: network } = await this.deps.network.load(NETWORK_ID);
    const result = await this.deps.members.execute(
      input.memberId,
      {
        causationId: `exclude:${input.requestId}`,
        now: new Date(now),
        request: { digest: requestDigest({ reason: input.reason }), describe: `request_id ${input.requestId}` },
        ...traced,
      },
      (state) =>
        decideMember(
          {
            type: "Exclude",
            reason: input.reason,
            now,
            authority: {
              kind: "operator",
              networkId: this.deps.networkId,
              requestId: input.requestId,
              signatures: input.signatures,
              operators: network.operators,
            },
          },
          state,
        ),
    );
    return { sequence: result.seq };
  }

  /** Reaction to the identity stream itself: genesis admissions, and completing redemptions. */
  async onOwnEvent(stored: StoredEvent): Promise<void> {
    const event = stored.envelope.event;
    if (event?.$case === "creditRedeemed") {
      const consent = consentFromWire(event.value.consent);
      if (!consent) return;
      await this.admitControlled(
        event.value.memberId,
        consent,
        { signature: event.value.signature, requestId: event.value.requestId },
        toNumber(event.value.redeemedAtMs),
        stored.envelope.causationId,
      );
      return;
    }
    if (event?.$case === "memberExcluded") {
      // The excluded member's controlled lineage goes with it (each exclusion repeats this for its own).
      const { state } = await this.deps.members.load(event.value.memberId);
      const cause = exclusionActFromWire(event.value);
      for (const { memberId, command } of controlledLineageExclusions(
        state,
        toNumber(event.value.excludedAtMs),
        cause,
      )) {
        await this.member(stored, memberId, command);
      }
      return;
    }
    if (event?.$case !== "networkBootstrapped") return;
    const admittedAt = stored.envelope.occurredAt?.getTime() ?? this.deps.now();
    for (const member of event.value.members) {
      const memberId = memberIdOf(member.publicKey);
      await this.member(stored, memberId, {
        type: "Admit",
        memberId,
        publicKey: member.publicKey,
        kind: "genesis",
        sponsorIds: [],
        controllerId: "",
        gameId: "",
        consent: undefined,
        displayName: member.displayName,
        admittedAt,
      });
    }
  }

  /**
   * Reaction to the adjudicator: admit the candidate of a won game, grant a defector's credits. Only
   * after re-checking what the resolution carries (resolutionEvidence): a resolution its
   * signatures do not justify, or between sponsors identity never admitted, is refused with a
   * ForgedEventError and changes nothing.
   */
  async onAdjudicatorEvent(stored: StoredEvent): Promise<void> {
    const event = stored.envelope.event;
    if (event?.$case !== "gameResolved") return;
    const resolved = event.value;
    const { signatures, forgery } = resolutionEvidence(this.deps.networkId, resolved);
    if (forgery) throw new ForgedEventError("GameResolved", `GameResolved of game ${resolved.gameId}: ${forgery}`);
    for (const sponsor of [resolved.sponsorA?.memberId ?? "", resolved.sponsorB?.memberId ?? ""]) {
      const { state } = await this.deps.members.load(sponsor);
      if (state.status === "none") {
        throw new ForgedEventError(
          "GameResolved",
          `GameResolved of game ${resolved.gameId}: sponsor ${sponsor} is not a member`,
        );
      }
    }
    const consent = consentFromWire(
      resolved.action?.action?.$case === "admission" ? resolved.action.action.value.consent : undefined,
    );
    if (resolved.admitted && consent) {
      const memberId = memberIdOf(consent.candidatePublicKey);
      const sponsorIds = [resolved.sponsorA?.memberId ?? "", resolved.sponsorB?.memberId ?? ""];
      // Sponsors are admitted before the game they play resolves, and how they were admitted never
      // changes: the taint decided here is the same on a redelivery.
      const sponsors = await Promise.all(sponsorIds.map((id) => this.deps.members.load(id)));
      await this.member(stored, memberId, {
        type: "Admit",
        memberId,
        publicKey: consent.candidatePublicKey,
        kind: "sponsored",
        sponsorIds,
        controllerId: "",
        gameId: resolved.gameId,
        consent,
        displayName: "",
        admittedAt: toNumber(resolved.resolvedAtMs),
        ...(taintedBy(sponsors.map((sponsor) => sponsor.state)) ? { tainted: true } : {}),
        evidence: { type: "game", signatures },
      });
    }
    for (const award of resolved.credits) {
      await this.member(stored, award.memberId, {
        type: "GrantCredits",
        gameId: resolved.gameId,
        count: award.count,
        expiresAtMs: toNumber(award.expiresAtMs),
        grantedAt: toNumber(resolved.resolvedAtMs),
        ...(award.cap > 0 ? { cap: { count: award.cap, windowMs: toNumber(award.capWindowMs) } } : {}),
      });
    }
  }

  private admitControlled(
    controllerId: string,
    consent: Consent,
    redemption: { readonly signature: Uint8Array; readonly requestId: string },
    admittedAt: number,
    causationId: string,
    headers?: Record<string, string>,
  ) {
    const memberId = memberIdOf(consent.candidatePublicKey);
    return this.deps.members.execute(
      memberId,
      { causationId, correlationId: causationId, now: new Date(this.deps.now()), ...(headers ? { headers } : {}) },
      (state) =>
        decideMember(
          {
            type: "Admit",
            memberId,
            publicKey: consent.candidatePublicKey,
            kind: "controlled",
            sponsorIds: [],
            controllerId,
            gameId: "",
            consent,
            displayName: "",
            admittedAt,
            ...(redemption.signature.length > 0 ? { evidence: { type: "redeem" as const, ...redemption } } : {}),
          },
          state,
        ),
    );
  }

  private member(stored: StoredEvent, memberId: string, command: MemberCommand) {
    return this.deps.members.execute(
      memberId,
      {
        causationId: stored.envelope.eventId,
        correlationId: stored.envelope.correlationId,
        now: new Date(this.deps.now()),
      },
      (state) => decideMember(command, state),
    );
  }
}
