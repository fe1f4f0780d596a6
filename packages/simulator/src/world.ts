import {
  commitmentOf,
  commitPayload,
  consentPayload,
  encodeFields,
  isPotError,
  operatorBootstrapPayload,
  operatorExcludePayload,
  operatorKeysAdoption,
  operatorPolicyPayload,
  sha256,
  memberIdOf,
  proposePayload,
  actionDigest,
  answerPayload,
  redeemPayload,
  revealPayload,
  type ActionSpec,
  type MoveName,
  type Policy,
  type PotErrorCode,
} from "@pot/mechanism";
import {
  decideLedger,
  evolveLedger,
  initialLedgerState,
  type LedgerCommand,
  type LedgerEvent,
  type LedgerState,
} from "@pot/matchmaker/domain";
import {
  decideGame,
  decidePolicy,
  dueInterval,
  evolveGame,
  evolvePolicy,
  initialGameState,
  initialPolicyState,
  intervalEnd,
  intervalStart,
  policyVersion,
  type GameCommand,
  type GameEvent,
  type GameState,
  type PolicyEvent,
  type PolicyState,
  type Retarget,
} from "@pot/adjudicator/domain";
import {
  controlledLineageExclusions,
  currentAgreement,
  decideMember,
  decideNetwork,
  evolveMember,
  evolveNetwork,
  initialMemberState,
  initialNetworkState,
  MAX_GENESIS_MEMBERS,
  taintedBy,
  type Agreement,
  type Consent,
  type MemberCommand,
  type MemberEvent,
  type MemberState,
  type NetworkCommand,
  type NetworkEvent,
  type NetworkState,
} from "@pot/identity/domain";
import { keyFromSeed, signWith, type SimKey } from "./keys.js";

/** The simulated network's one operator key (1 of 1): it signs every operator act, as the services require. */
const OPERATOR = keyFromSeed(new Uint8Array(32).fill(0x4f));

/** How long the consents the simulated candidates sign stay valid. */
export const CONSENT_VALIDITY_MS = 7 * 24 * 3_600_000;

export type GameResolved = Extract<GameEvent, { type: "GameResolved" }>;
export type MemberAdmitted = Extract<MemberEvent, { type: "MemberAdmitted" }>;
export type MemberExcluded = Extract<MemberEvent, { type: "MemberExcluded" }>;

/** A command a decider refused: the error's code and sentence, as a gRPC client would see them. */
export interface Refusal {
  readonly code: PotErrorCode;
  readonly message: string;
}

/** What the world reports as it happens (the simulator's public trust board listens here). */
export interface WorldObserver {
  gameResolved?(event: GameResolved): void;
  memberAdmitted?(event: MemberAdmitted): void;
  memberExcluded?(event: MemberExcluded): void;
  creditsGranted?(memberId: string, count: number): void;
  refused?(command: string, refusal: Refusal): void;
}

/**
 * The three services of one network folded into one process: identity's network and member
 * aggregates, the matchmaker's ledger, the adjudicator's policy and game aggregates. Every command
 * goes through the services' own pure `decide` functions and every event through their `evolve`
 * functions; the reactions that the services run as NATS consumers (services/<name>/src/application)
 * are applied here synchronously, in the order the events are decided. No servers, no I/O, and time
 * is whatever the caller passes as `now`.
 *
 * A resolved game's state is dropped once its reactions ran (nothing can change it any more), which
 * keeps memory bounded by the open games.
 */
export class World {
  ledger: LedgerState = initialLedgerState;
  network: NetworkState = initialNetworkState;
  policies: PolicyState = initialPolicyState;
  readonly members = new Map<string, MemberState>();
  readonly openGames = new Map<string, GameState>();
  /** Events decided, by type (all three services). */
  readonly eventCounts = new Map<string, number>();
  /** Every StakePeriodRetargeted, oldest first. */
  readonly retargets: Retarget[] = [];
  /**
   * Resolution times of the sponsored admissions not yet counted by a retarget (admission games both
   * sponsors cooperated in: what the adjudicator's games read model counts), in time order.
   */
  private admissionTimes: number[] = [];
  /** Events on the adjudicator's stream so far: the "sequence" a retarget's count reflects. */
  private adjudicatorSeq = 0;

  constructor(
    private readonly observer: WorldObserver = {},
    /** The network id every signature names (the simulated deployment's POT_NETWORK_ID). */
    readonly networkId = "simulated",
  ) {}

  // ---- operator acts --------------------------------------------------------------------------------

  /** Bootstraps the network with the genesis members (in calls of at most MAX_GENESIS_MEMBERS). */
  bootstrap(publicKeys: readonly Uint8Array[], agreement: { hash: Uint8Array; uri: string }, now: number): void {
    for (let start = 0; start < publicKeys.length; start += MAX_GENESIS_MEMBERS) {
      const chunk = publicKeys.slice(start, start + MAX_GENESIS_MEMBERS);
      const genesis = !this.network.bootstrapped;
      const members = chunk.map((publicKey) => ({ publicKey, displayName: "" }));
      const operatorKeys = genesis ? [OPERATOR.publicKey] : [];
      const operatorThreshold = genesis ? 1 : 0;
      const requestId = `bootstrap-${start}`;
      const payload = operatorBootstrapPayload(this.networkId, {
        requestId,
        bootstrapsBefore: this.network.bootstraps,
        force: start > 0,
        members,
        agreement,
        operatorKeys,
        operatorThreshold,
      });
      this.networkDo(
        {
          type: "Bootstrap",
          requestId,
          members,
          agreement,
          force: start > 0,
          networkId: this.networkId,
          configuredNetworkId: this.networkId,
          operatorKeys,
          operatorThreshold,
          signatures: [this.operatorSignature(payload)],
        },
        now,
      );
    }
  }

  /** Publishes a policy through the adjudicator's policy decider (validated as PublishPolicy does). */
  publishPolicy(policy: Omit<Policy, "version">, now = 0): void {
    // The services sign the policy's protobuf digest (@pot/wire); the decider checks only that the
    // operator signed whatever digest it is given, so the simulation signs a digest of its own.
    const digest = sha256(encodeFields("simulated-policy", JSON.stringify(policy)));
    const requestId = `policy-${this.policies.versions.length + 1}`;
    const payload = operatorPolicyPayload(this.networkId, requestId, this.policies.versions.length + 1, digest);
    const events = decidePolicy(
      {
        type: "PublishPolicy",
        policy,
        now,
        networkId: this.networkId,
        requestId,
        digest,
        signatures: [this.operatorSignature(payload)],
      },
      this.policies,
    );
    for (const event of events) this.applyPolicy(event);
  }

  private operatorSignature(payload: Uint8Array) {
    return { publicKey: OPERATOR.publicKey, signature: signWith(OPERATOR, payload) };
  }

  /**
   * Adopts a policy as an event already in the log, without validating it: how a network whose policy
   * was published before the current validation rules replays (the legacy policy cannot be
   * published any more, but old logs hold it and the deciders still decide under it).
   */
  adoptLoggedPolicy(policy: Omit<Policy, "version">): void {
    this.applyPolicy({
      type: "PolicyPublished",
      policy: { ...policy, version: this.policies.versions.length + 1 },
      publishedAt: 0,
    });
  }

  /**
   * The adjudicator's retarget after its deadline sweep: under a policy with a rate target, one
   * RetargetStakePeriod for every interval that has ended by `now`, oldest first, from the sponsored
   * admissions resolved within it; the matchmaker adopts each new period.
   */
  retargetDue(now: number): void {
    for (;;) {
      const due = dueInterval(this.policies);
      if (!due) return;
      const target = due.policy.rateTarget;
      if (now < intervalEnd(target, due.interval)) return;
      const start = intervalStart(target, due.interval);
      const end = intervalEnd(target, due.interval);
      this.admissionTimes = this.admissionTimes.filter((at) => at >= start);
      const admissions = this.admissionTimes.filter((at) => at < end).length;
      const events = decidePolicy(
        {
          type: "RetargetStakePeriod",
          policyVersion: due.policy.version,
          interval: due.interval,
          admissions,
          throughSeq: this.adjudicatorSeq,
          now,
        },
        this.policies,
      );
      if (events.length === 0) return;
      for (const event of events) this.applyPolicy(event);
    }
  }

  exclude(memberId: string, reason: string, now: number): Refusal | undefined {
    const requestId = `exclude-${memberId}`;
    const payload = operatorExcludePayload(this.networkId, requestId, memberId, reason);
    return this.attempt("Exclude", () =>
      this.memberDo(
        memberId,
        {
          type: "Exclude",
          reason,
          now,
          authority: {
            kind: "operator",
            networkId: this.networkId,
            requestId,
            signatures: [this.operatorSignature(payload)],
            operators: this.network.operators,
          },
        },
        now,
      ),
    );
  }

  // ---- member acts (signed here with the member's key, verified by the deciders) ----------------------

  agreement(): Agreement {
    const agreement = currentAgreement(this.network);
    if (!agreement) throw new Error("the simulated network is not bootstrapped");
    return agreement;
  }

  /**
   * A candidate's consent to the current agreement of this network, signed with the candidate's key, for
   * one context: the proposal that may admit it, or the member that may redeem a credit for it.
   */
  consent(candidate: SimKey, context: { proposalId: string } | { controllerId: string }, expiresAtMs: number): Consent {
    const { version, hash } = this.agreement();
    const terms = {
      candidatePublicKey: candidate.publicKey,
      agreementVersion: version,
      agreementHash: hash,
      proposalId: "proposalId" in context ? context.proposalId : "",
      controllerId: "controllerId" in context ? context.controllerId : "",
      expiresAtMs,
    };
    return { ...terms, signature: signWith(candidate, consentPayload(this.networkId, terms)) };
  }

  /** Proposes an admission game for the candidate, whose consent (to this proposal) is collected here. */
  propose(
    proposer: SimKey,
    partnerId: string,
    proposalId: string,
    candidate: SimKey,
    now: number,
  ): Refusal | undefined {
    const consent = this.consent(candidate, { proposalId }, now + CONSENT_VALIDITY_MS);
    const action: ActionSpec = {
      type: "admission",
      candidatePublicKey: consent.candidatePublicKey,
      agreementVersion: consent.agreementVersion,
      agreementHash: consent.agreementHash,
      consentProposalId: consent.proposalId,
      consentControllerId: consent.controllerId,
      consentExpiresAtMs: consent.expiresAtMs,
      consentSignature: consent.signature,
    };
    const digest = actionDigest(action);
    const signature = signWith(proposer, proposePayload(this.networkId, proposalId, proposer.id, partnerId, digest));
    return this.attempt("Propose", () =>
      this.ledgerDo({
        type: "Propose",
        networkId: this.networkId,
        proposalId,
        proposerId: proposer.id,
        partnerId,
        action,
        signature,
        now,
      }),
    );
  }

  answer(kind: "accept" | "decline" | "cancel", member: SimKey, proposalId: string, now: number): Refusal | undefined {
    const signature = signWith(member, answerPayload(this.networkId, kind, proposalId, member.id));
    const type = kind === "accept" ? "Accept" : kind === "decline" ? "Decline" : "Cancel";
    return this.attempt(type, () =>
      this.ledgerDo({ type, networkId: this.networkId, proposalId, memberId: member.id, signature, now }),
    );
  }

  commit(member: SimKey, gameId: string, move: MoveName, nonce: Uint8Array, now: number): Refusal | undefined {
    const commitment = commitmentOf(gameId, member.id, move, nonce);
    const signature = signWith(member, commitPayload(this.networkId, gameId, member.id, commitment));
    const networkId = this.networkId;
    return this.attempt("CommitMove", () =>
      this.gameDo(gameId, { type: "CommitMove", networkId, memberId: member.id, commitment, signature, now }, now),
    );
  }

  reveal(member: SimKey, gameId: string, move: MoveName, nonce: Uint8Array, now: number): Refusal | undefined {
    const signature = signWith(member, revealPayload(this.networkId, gameId, member.id, move, nonce));
    const networkId = this.networkId;
    return this.attempt("RevealMove", () =>
      this.gameDo(gameId, { type: "RevealMove", networkId, memberId: member.id, move, nonce, signature, now }, now),
    );
  }

  /** The adjudicator's deadline sweep for one open game. */
  tick(gameId: string, now: number): void {
    if (this.openGames.has(gameId)) this.gameDo(gameId, { type: "Tick", now }, now);
  }

  /** Spends one of the member's credits on a controlled identity (identity's RedeemCredit use case). */
  redeem(member: SimKey, candidate: SimKey, requestId: string, now: number): Refusal | undefined {
    const consent = this.consent(candidate, { controllerId: member.id }, now + CONSENT_VALIDITY_MS);
    const signature = signWith(member, redeemPayload(this.networkId, member.id, candidate.publicKey, requestId));
    return this.attempt("RedeemCredit", () =>
      this.memberDo(
        member.id,
        {
          type: "RedeemCredit",
          networkId: this.networkId,
          requestId,
          consent,
          signature,
          agreement: currentAgreement(this.network),
          candidateExists: this.members.has(candidate.id),
          now,
        },
        now,
      ),
    );
  }

  member(memberId: string): MemberState {
    return this.members.get(memberId) ?? initialMemberState(memberId);
  }

  // ---- the deciders and the reactions between them ---------------------------------------------------

  private attempt(command: string, run: () => void): Refusal | undefined {
    try {
      run();
      return undefined;
    } catch (error) {
      if (!isPotError(error)) throw error;
      const refusal = { code: error.code, message: error.message };
      this.observer.refused?.(command, refusal);
      return refusal;
    }
  }

  private count(type: string): void {
    this.eventCounts.set(type, (this.eventCounts.get(type) ?? 0) + 1);
  }

  private applyPolicy(event: PolicyEvent): void {
    this.policies = evolvePolicy(this.policies, event);
    this.count(event.type);
    this.adjudicatorSeq++;
    // Reaction (matchmaker): adopt the policy in force (a retarget is adopted as its stake period).
    if (event.type === "PolicyPublished") this.ledgerDo({ type: "AdoptPolicy", policy: event.policy });
    if (event.type === "StakePeriodRetargeted") {
      const { type: _type, ...retarget } = event;
      this.retargets.push(retarget);
      this.ledgerDo({
        type: "AdoptStakePeriod",
        policyVersion: event.policyVersion,
        interval: event.interval,
        stakePeriodMs: event.newStakePeriodMs,
      });
    }
  }

  private networkDo(command: NetworkCommand, now: number): void {
    const events = decideNetwork(command, this.network);
    for (const event of events) {
      this.network = evolveNetwork(this.network, event);
      this.count(event.type);
      this.onNetworkEvent(event, now);
    }
  }

  private onNetworkEvent(event: NetworkEvent, now: number): void {
    // Reaction (adjudicator): adopt the operator keys of the genesis (re-checked, as the service does).
    if (event.type === "NetworkBootstrapped" && event.operators && event.act) {
      const source = {
        type: "genesis" as const,
        operators: event.operators,
        signatures: event.act.signatures,
        act: {
          requestId: event.act.requestId,
          bootstrapsBefore: 0,
          force: event.forced,
          members: event.members,
          agreement: { hash: event.agreement.hash, uri: event.agreement.uri },
          operatorKeys: event.operators.keys,
          operatorThreshold: event.operators.threshold,
        },
      };
      if (operatorKeysAdoption(this.networkId, this.policies.operators, source) === "adopt") {
        const adopted = decidePolicy(
          { type: "AdoptOperatorKeys", networkId: this.networkId, source, sourceEventId: "genesis" },
          this.policies,
        );
        for (const adoptedEvent of adopted) this.applyPolicy(adoptedEvent);
      }
    }
    if (event.type === "OperatorKeysRotated") return;
    const agreement = event.agreement;
    this.ledgerDo({
      type: "AdoptAgreement",
      agreement: { version: agreement.version, hash: agreement.hash, uri: agreement.uri },
    });
    if (event.type !== "NetworkBootstrapped") return;
    // Reaction (identity): admit the genesis members.
    for (const member of event.members) {
      const memberId = memberIdOf(member.publicKey);
      this.memberDo(
        memberId,
        {
          type: "Admit",
          memberId,
          publicKey: member.publicKey,
          kind: "genesis",
          sponsorIds: [],
          controllerId: "",
          gameId: "",
          consent: undefined,
          displayName: member.displayName,
          admittedAt: now,
        },
        now,
      );
    }
  }

  private ledgerDo(command: LedgerCommand): void {
    const events = decideLedger(command, this.ledger);
    for (const event of events) {
      this.ledger = evolveLedger(this.ledger, event);
      this.count(event.type);
      this.onLedgerEvent(event);
    }
  }

  private onLedgerEvent(event: LedgerEvent): void {
    switch (event.type) {
      case "GameOpened": {
        // Reaction (adjudicator): start the game under the policy version it opened with.
        const policy = policyVersion(this.policies, event.policyVersion);
        if (!policy) throw new Error(`game ${event.gameId} opened under unknown policy v${event.policyVersion}`);
        this.gameDo(
          event.gameId,
          {
            type: "StartGame",
            gameId: event.gameId,
            sponsorA: event.sponsorA,
            sponsorB: event.sponsorB,
            action: event.action,
            policy,
            openedAt: event.openedAt,
            stakePeriodMs: event.stakeLockedUntil - event.openedAt,
            opening: event.opening,
          },
          event.openedAt,
        );
        return;
      }
      case "SponsorExcluded":
        // Reaction (adjudicator): cancel the excluded sponsor's open games.
        for (const gameId of event.cancelledProposalIds) {
          if (!this.openGames.has(gameId)) continue;
          const now = this.ledger.clock;
          this.gameDo(gameId, { type: "CancelGame", now, reason: `sponsor ${event.memberId} was excluded` }, now);
        }
        return;
      default:
        return;
    }
  }

  private gameDo(gameId: string, command: GameCommand, _now: number): void {
    let state = this.openGames.get(gameId) ?? initialGameState(gameId);
    const events = decideGame(command, state);
    for (const event of events) {
      state = evolveGame(state, event);
      this.count(event.type);
      this.adjudicatorSeq++;
      if (event.type === "GameResolved" && event.outcome === "both-cooperated" && event.action.type === "admission") {
        this.admissionTimes.push(event.resolvedAt);
      }
    }
    if (state.phase === "resolved") this.openGames.delete(gameId);
    else if (state.phase !== "none") this.openGames.set(gameId, state);
    for (const event of events) if (event.type === "GameResolved") this.onGameResolved(event);
  }

  private onGameResolved(event: GameResolved): void {
    // Reaction (matchmaker): settle the stakes.
    this.ledgerDo({
      type: "SettleGame",
      gameId: event.gameId,
      sponsorIds: [event.sponsorA.memberId, event.sponsorB.memberId],
      suspensions: event.suspensions,
      released: event.outcome === "cancelled",
    });
    // Reaction (identity): admit the candidate of a won game, grant the defector's credits.
    if (event.admitted && event.action.type === "admission") {
      const publicKey = event.action.candidatePublicKey;
      const memberId = memberIdOf(publicKey);
      this.memberDo(
        memberId,
        {
          type: "Admit",
          memberId,
          publicKey,
          kind: "sponsored",
          sponsorIds: [event.sponsorA.memberId, event.sponsorB.memberId],
          controllerId: "",
          gameId: event.gameId,
          consent: {
            candidatePublicKey: publicKey,
            agreementVersion: event.action.agreementVersion,
            agreementHash: event.action.agreementHash,
            proposalId: event.action.consentProposalId,
            controllerId: event.action.consentControllerId,
            expiresAtMs: event.action.consentExpiresAtMs,
            signature: event.action.consentSignature,
          },
          displayName: "",
          admittedAt: event.resolvedAt,
          // As identity does: a sponsor that is controlled or tainted taints the admission.
          ...(taintedBy([this.member(event.sponsorA.memberId), this.member(event.sponsorB.memberId)])
            ? { tainted: true }
            : {}),
        },
        event.resolvedAt,
      );
    }
    for (const award of event.credits) {
      this.memberDo(
        award.memberId,
        {
          type: "GrantCredits",
          gameId: event.gameId,
          count: award.count,
          expiresAtMs: award.expiresAtMs,
          // The award's time and the policy's credit cap, as identity's reaction passes them.
          grantedAt: event.resolvedAt,
          ...(award.cap ? { cap: award.cap } : {}),
        },
        event.resolvedAt,
      );
    }
    this.observer.gameResolved?.(event);
  }

  private memberDo(memberId: string, command: MemberCommand, now: number): void {
    let state = this.member(memberId);
    const events = decideMember(command, state);
    for (const event of events) {
      state = evolveMember(state, event);
      this.count(event.type);
    }
    if (events.length > 0) this.members.set(memberId, state);
    for (const event of events) this.onMemberEvent(event, now);
  }

  private onMemberEvent(event: MemberEvent, now: number): void {
    switch (event.type) {
      case "MemberAdmitted":
        // Reaction (matchmaker): every admitted member gets a staking slot, with the admission record
        // (kind, parents, time) the growth rules read.
        this.ledgerDo({
          type: "RegisterSponsor",
          memberId: event.memberId,
          publicKey: event.publicKey,
          admission: {
            kind: event.kind,
            sponsorIds: event.sponsorIds,
            controllerId: event.controllerId,
            admittedAt: event.admittedAt,
          },
        });
        this.observer.memberAdmitted?.(event);
        return;
      case "CreditsGranted":
        this.observer.creditsGranted?.(event.memberId, event.count);
        return;
      case "CreditRedeemed": {
        // Identity's own use case: the spent credit admits the controlled identity.
        const publicKey = event.consent.candidatePublicKey;
        this.memberDo(
          event.admittedMemberId,
          {
            type: "Admit",
            memberId: event.admittedMemberId,
            publicKey,
            kind: "controlled",
            sponsorIds: [],
            controllerId: event.memberId,
            gameId: "",
            consent: event.consent,
            displayName: "",
            admittedAt: event.redeemedAt,
          },
          now,
        );
        return;
      }
      case "MemberExcluded":
        // Reaction (matchmaker): close the member's slot, suspend the accountable sponsors.
        this.ledgerDo({
          type: "ExcludeSponsor",
          memberId: event.memberId,
          accountableSponsorIds: event.sponsorIds,
          now: event.excludedAt,
        });
        this.observer.memberExcluded?.(event);
        // Reaction (identity): the excluded member's controlled lineage goes with it.
        for (const next of controlledLineageExclusions(this.member(event.memberId), event.excludedAt, event.act)) {
          this.memberDo(next.memberId, next.command, now);
        }
        return;
      default: {
        const unreachable: never = event;
        return unreachable;
      }
    }
  }
}
