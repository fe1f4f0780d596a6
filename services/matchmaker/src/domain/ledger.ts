import { List, Map as ImmutableMap } from "immutable";
import {
  actionDigest,
  AlreadyExistsError,
  answerPayload,
  consentPayload,
  ForgedEventError,
  IllegalStateError,
  isValidPublicKey,
  memberIdOf,
  NotFoundError,
  operatorKeysAdoption,
  PermissionError,
  proposePayload,
  resolutionAmountsForgery,
  rulesFor,
  ValidationError,
  verify,
  type ActionSpec,
  type CreditAwardAmount,
  type GameOutcome,
  type GameRules,
  type OperatorKeys,
  type OperatorKeysSource,
  type OpeningSignatures,
  type Policy,
  sameBytes,
} from "@pot/mechanism";
import { growthRefusal, lineageRefusal, pendingProposalRefusal } from "./growth.js";

/**
 * The matchmaker's one aggregate: every staking slot, proposal and pair cool-down of the network.
 * Opening a game changes two members' slots at once; JetStream (before 2.12's atomic batches) can
 * only make one subject's append conditional, so the slots share one consistency boundary.
 *
 * Because the aggregate holds the whole network, its maps are persistent (immutable-js): `set` and
 * `delete` return a new map sharing all untouched nodes, O(log32 n), and leave the old one as it was.
 * evolveLedger is therefore pure without copying O(members) per event; the aggregate repository may
 * keep the confirmed state and decide on speculative states derived from it.
 */
export interface Slot {
  readonly memberId: string;
  readonly publicKey: Uint8Array;
  readonly excluded: boolean;
  readonly lockedUntil: number;
  readonly lockGameId: string | undefined;
  readonly suspendedUntil: number;
  /** How and when the member was admitted, for the growth rules; undefined when registered before them. */
  readonly admission: SponsorAdmission | undefined;
  /**
   * Times of the games opened with the member as a sponsor, oldest first, within the sponsor-quota
   * window of the policy in force when the last one opened (empty while no quota is set).
   */
  readonly openings: readonly number[];
  /** Ids of the proposals the member made that are pending and still kept, oldest first. */
  readonly pending: readonly string[];
}

export type MemberKind = "genesis" | "sponsored" | "controlled";

/** What identity's MemberAdmitted says of a member's admission: its parents in the lineage, and when. */
export interface SponsorAdmission {
  readonly kind: MemberKind;
  /** Both sponsors, for a sponsored member. */
  readonly sponsorIds: readonly string[];
  /** The member whose credit admitted it, for a controlled member; "" otherwise. */
  readonly controllerId: string;
  readonly admittedAt: number;
}

export type ProposalStatus = "pending" | "accepted" | "declined" | "cancelled";

export interface Proposal {
  readonly proposalId: string;
  readonly proposerId: string;
  readonly partnerId: string;
  readonly action: ActionSpec;
  readonly madeAt: number;
  readonly expiresAt: number;
  readonly signature: Uint8Array;
  readonly status: ProposalStatus;
}

export interface OpenGame {
  readonly gameId: string;
  readonly sponsorIds: readonly [string, string];
  /**
   * The policy the game opened under (the adopted one, whose version GameOpened names), to recompute
   * the amounts of its resolution; shared with the state's, never copied.
   */
  readonly policy: Policy | undefined;
}

/** What a resolution's amounts follow from and what it claims they are (resolutionAmountsForgery). */
export interface ResolutionAmountsClaim {
  readonly action: ActionSpec;
  readonly outcome: GameOutcome;
  readonly resolvedAt: number;
  readonly noShowIds: readonly string[];
  readonly credits: readonly CreditAwardAmount[];
}

/**
 * A persistent map, read like a ReadonlyMap (`get`, `has`, `size`, `keys()`, `values()`, `entries()`);
 * compare two with `Immutable.is` or by their entries, never with `assert.deepEqual` on the objects.
 */
export type PersistentMap<K, V> = ImmutableMap<K, V>;

/** How a proposal that is no longer kept in memory ended. */
export type ProposalEnd = "expired" | "declined" | "cancelled" | "played";

/** An entry of a pruning queue: `key` may be dropped once the ledger's clock reaches `at`. */
export interface Deadline {
  readonly key: string;
  readonly at: number;
}

export interface LedgerState {
  readonly slots: PersistentMap<string, Slot>;
  /**
   * Proposals still kept: each until the ledger's clock has passed its expiry and its game, if one
   * was opened, is settled. Within that window every answer to it behaves exactly as it always did
   * (a redelivered decline is a no-op); after it the proposal is in `retiredProposals`.
   */
  readonly proposals: PersistentMap<string, Proposal>;
  /** Games opened and not yet settled, by id. */
  readonly openGames: PersistentMap<string, OpenGame>;
  /** Running pair cool-downs (pairKey -> until, ms); dropped once the clock has passed them. */
  readonly pairCooldowns: PersistentMap<string, number>;
  /**
   * Proposal ids no longer in `proposals`, with how they ended, for RETIRED_ID_HORIZON_MS of the
   * ledger's clock after they left: a game id is its proposal id, so an id must never be proposed
   * twice (the adjudicator would take the second game for a redelivery). Older ids are dropped, so
   * the ledger's memory follows the rate of proposals, not the length of its history; the matchmaker
   * refuses a proposal id that is not a UUIDv7 created within PROPOSAL_ID_MAX_AGE_MS, which no id
   * dropped here can be (see RETIRED_ID_HORIZON_MS).
   */
  readonly retiredProposals: PersistentMap<string, ProposalEnd>;
  readonly policy: Policy | undefined;
  /**
   * The admission stake period retargeted under the adopted policy's rate target (the adjudicator's
   * StakePeriodRetargeted), for admission games opened from now on; undefined: the policy's own.
   */
  readonly stakePeriod: StakePeriod | undefined;
  /** The legal agreement candidates must consent to now. */
  readonly agreement: Agreement | undefined;
  /**
   * The operator key sets learnt from identity's stream, by version (index version - 1): the operator
   * acts the matchmaker consumes are re-checked against the set they name.
   */
  readonly operatorSets: readonly OperatorKeys[];
  /**
   * The latest time carried by an event folded so far (ProposalMade.madeAt, GameOpened.openedAt), 0
   * before any. Pruning is driven by it, never by a wall clock, so a log always folds to the same state.
   */
  readonly clock: number;
  /** Pruning queue of proposals in the order they were made, with their expiry. */
  readonly proposalDeadlines: List<Deadline>;
  /** Pruning queue of pair cool-downs in the order they were set, with their end. */
  readonly cooldownDeadlines: List<Deadline>;
  /** Pruning queue of retired proposal ids, in the order they were retired, with when they go. */
  readonly retiredDeadlines: List<Deadline>;
}

export interface StakePeriod {
  readonly policyVersion: number;
  readonly interval: number;
  readonly stakePeriodMs: number;
}

export interface Agreement {
  readonly version: number;
  readonly hash: Uint8Array;
}

export interface Suspension {
  readonly memberId: string;
  readonly untilMs: number;
}

export type LedgerEvent =
  | {
      readonly type: "SponsorRegistered";
      readonly memberId: string;
      readonly publicKey: Uint8Array;
      /** Absent from events recorded before growth rules existed. */
      readonly admission?: SponsorAdmission;
    }
  | {
      readonly type: "SponsorExcluded";
      readonly memberId: string;
      readonly accountableSponsorIds: readonly string[];
      readonly cancelledProposalIds: readonly string[];
      readonly suspensions: readonly Suspension[];
    }
  | { readonly type: "PolicyAdopted"; readonly policy: Policy }
  | ({ readonly type: "StakePeriodAdopted" } & StakePeriod)
  | { readonly type: "AgreementAdopted"; readonly agreement: Agreement & { readonly uri: string } }
  | { readonly type: "OperatorKeysRecorded"; readonly operators: OperatorKeys; readonly sourceEventId: string }
  | {
      readonly type: "ProposalMade";
      readonly proposalId: string;
      readonly proposerId: string;
      readonly partnerId: string;
      readonly action: ActionSpec;
      readonly madeAt: number;
      readonly expiresAt: number;
      readonly signature: Uint8Array;
    }
  | { readonly type: "ProposalDeclined"; readonly proposalId: string; readonly memberId: string }
  | {
      readonly type: "ProposalCancelled";
      readonly proposalId: string;
      readonly memberId: string;
      readonly reason: string;
    }
  | {
      readonly type: "GameOpened";
      readonly gameId: string;
      readonly sponsorA: { readonly memberId: string; readonly publicKey: Uint8Array };
      readonly sponsorB: { readonly memberId: string; readonly publicKey: Uint8Array };
      readonly action: ActionSpec;
      readonly policyVersion: number;
      readonly openedAt: number;
      readonly stakeLockedUntil: number;
      readonly pairCooldownUntil: number;
      /** The proposer's and the partner's signatures that opened it, for the adjudicator to re-check. */
      readonly opening: OpeningSignatures;
    }
  | {
      readonly type: "StakesSettled";
      readonly gameId: string;
      readonly suspensions: readonly Suspension[];
      readonly released: boolean;
    };

export interface Answer {
  readonly type: "Accept" | "Decline" | "Cancel";
  /** The network id the signature is checked against (this deployment's). */
  readonly networkId: string;
  readonly proposalId: string;
  readonly memberId: string;
  readonly signature: Uint8Array;
  readonly now: number;
}

export type LedgerCommand =
  | {
      readonly type: "RegisterSponsor";
      readonly memberId: string;
      readonly publicKey: Uint8Array;
      readonly admission?: SponsorAdmission;
    }
  | { readonly type: "AdoptPolicy"; readonly policy: Policy }
  | ({ readonly type: "AdoptStakePeriod" } & StakePeriod)
  | { readonly type: "AdoptAgreement"; readonly agreement: Agreement & { readonly uri: string } }
  | {
      /** Learn operator keys from identity's genesis or rotation, re-checked before they are recorded. */
      readonly type: "AdoptOperatorKeys";
      readonly networkId: string;
      readonly source: OperatorKeysSource;
      readonly sourceEventId: string;
    }
  | {
      readonly type: "Propose";
      /** The network id every signature is checked against (this deployment's). */
      readonly networkId: string;
      readonly proposalId: string;
      readonly proposerId: string;
      readonly partnerId: string;
      readonly action: ActionSpec;
      readonly signature: Uint8Array;
      readonly now: number;
    }
  | (Answer & { readonly type: "Accept" })
  | (Answer & { readonly type: "Decline" })
  | (Answer & { readonly type: "Cancel" })
  | {
      readonly type: "SettleGame";
      readonly gameId: string;
      /** The resolution's sponsors (A, B): they must be the ones the game was opened with. */
      readonly sponsorIds: readonly string[];
      readonly suspensions: readonly Suspension[];
      readonly released: boolean;
      /**
       * The resolution's outcome and credit awards, to re-check its amounts (credits, suspension ends)
       * against the policy the game opened under. The matchmaker's reaction to GameResolved always
       * carries it; only tests of the ledger alone settle without.
       */
      readonly resolution?: ResolutionAmountsClaim;
    }
  | {
      readonly type: "ExcludeSponsor";
      readonly memberId: string;
      readonly accountableSponsorIds: readonly string[];
      readonly now: number;
    };

export const LEDGER_ID = "ledger";

/**
 * How old (by its UUIDv7 timestamp, against the matchmaker's wall clock) a proposal id may be when it
 * is proposed; a retry of a Propose is answered within that time.
 */
export const PROPOSAL_ID_MAX_AGE_MS = 7 * 86_400_000;
/** How far ahead of the matchmaker's wall clock a proposal id's timestamp may be (clock skew). */
export const PROPOSAL_ID_MAX_SKEW_MS = 300_000;
/**
 * How long, in the ledger's clock, a retired proposal id is kept. An id is retired after it was made
 * (the ledger's clock is never ahead of the wall clock it was read from), so by the time it is dropped
 * it is older than RETIRED_ID_HORIZON_MS - PROPOSAL_ID_MAX_SKEW_MS, far beyond PROPOSAL_ID_MAX_AGE_MS:
 * proposing it again is refused as too old, never taken for a new proposal. Seven days cover a consent's default
 * lifetime (3 days: a candidate names the proposal id up front); ten leave three of margin for a wall
 * clock that jumps back.
 */
export const RETIRED_ID_HORIZON_MS = 10 * 86_400_000;

export const initialLedgerState: LedgerState = {
  slots: ImmutableMap(),
  proposals: ImmutableMap(),
  openGames: ImmutableMap(),
  pairCooldowns: ImmutableMap(),
  retiredProposals: ImmutableMap(),
  policy: undefined,
  stakePeriod: undefined,
  agreement: undefined,
  operatorSets: [],
  clock: 0,
  proposalDeadlines: List(),
  cooldownDeadlines: List(),
  retiredDeadlines: List(),
};

export function pairKey(x: string, y: string): string {
  return x < y ? `${x}:${y}` : `${y}:${x}`;
}

export function actionKind(action: ActionSpec): string {
  return action.type === "admission" ? "admission" : action.kind;
}

/** How a proposal no longer kept ended, as the end of a sentence starting "proposal <id> ". */
export function proposalEndSentence(end: ProposalEnd): string {
  switch (end) {
    case "expired":
      return "expired unanswered and is closed";
    case "declined":
      return "was declined and is closed";
    case "cancelled":
      return "was cancelled and is closed";
    case "played":
      return "was accepted and its game has been settled";
  }
}

/**
 * The open game the member plays, if any, in O(1). Opening a game sets both sponsors' lockGameId,
 * and no game opens for a member already playing one (unavailability), so a member's open game is
 * always the one its slot is locked for.
 */
export function openGameOf(state: LedgerState, memberId: string): OpenGame | undefined {
  const gameId = state.slots.get(memberId)?.lockGameId;
  return gameId === undefined ? undefined : state.openGames.get(gameId);
}

/** Why the member cannot stake now, or undefined when the slot is free. */
export function unavailability(state: LedgerState, memberId: string, now: number): string | undefined {
  const slot = state.slots.get(memberId);
  if (!slot) return `member ${memberId} is not known to the matchmaker`;
  if (slot.excluded) return `member ${memberId} is excluded`;
  const game = openGameOf(state, memberId);
  if (game) return `member ${memberId} is playing game ${game.gameId}`;
  if (slot.lockedUntil > now) {
    return `member ${memberId} has staked in game ${slot.lockGameId} until ${new Date(slot.lockedUntil).toISOString()}`;
  }
  if (slot.suspendedUntil > now) {
    return `member ${memberId} is suspended from staking until ${new Date(slot.suspendedUntil).toISOString()}`;
  }
  return undefined;
}

export function decideLedger(command: LedgerCommand, state: LedgerState): LedgerEvent[] {
  switch (command.type) {
    case "RegisterSponsor": {
      if (state.slots.has(command.memberId)) return [];
      const refusal = registrationForgery(command.admission, state);
      if (refusal)
        throw new ForgedEventError("MemberAdmitted", `MemberAdmitted of member ${command.memberId}: ${refusal}`);
      return [
        {
          type: "SponsorRegistered",
          memberId: command.memberId,
          publicKey: command.publicKey,
          ...(command.admission ? { admission: command.admission } : {}),
        },
      ];
    }
    case "AdoptPolicy":
      if (state.policy && state.policy.version >= command.policy.version) return [];
      return [{ type: "PolicyAdopted", policy: command.policy }];
    case "AdoptStakePeriod": {
      // A retarget under a policy that is not the adopted one (superseded), or a redelivered one: nothing.
      if (state.policy?.version !== command.policyVersion) return [];
      if (state.stakePeriod && state.stakePeriod.interval >= command.interval) return [];
      const refusal = stakePeriodForgery(state.policy, state.stakePeriod, command);
      if (refusal) {
        throw new ForgedEventError(
          "StakePeriodRetargeted",
          `StakePeriodRetargeted of policy v${command.policyVersion} interval ${command.interval}: ${refusal}`,
        );
      }
      const { type: _type, ...stakePeriod } = command;
      return [{ type: "StakePeriodAdopted", ...stakePeriod }];
    }
    case "AdoptAgreement":
      if (state.agreement && state.agreement.version >= command.agreement.version) return [];
      return [{ type: "AgreementAdopted", agreement: command.agreement }];
    case "AdoptOperatorKeys": {
      const adoption = operatorKeysAdoption(command.networkId, state.operatorSets.at(-1), command.source);
      if (adoption === "known") return [];
      if (adoption !== "adopt") {
        throw new PermissionError(
          `operator keys of identity event ${command.sourceEventId} refused: ${adoption.refused}`,
        );
      }
      return [
        { type: "OperatorKeysRecorded", operators: command.source.operators, sourceEventId: command.sourceEventId },
      ];
    }
    case "Propose":
      return decidePropose(command, state);
    case "Accept":
      return decideAccept(command, state);
    case "Decline":
    case "Cancel":
      return decideWithdrawal(command, state);
    case "SettleGame": {
      const game = state.openGames.get(command.gameId);
      if (!game) return [];
      const refusal = settlementForgery(command, game, state);
      if (refusal) throw new ForgedEventError("GameResolved", `GameResolved of game ${command.gameId}: ${refusal}`);
      return [
        { type: "StakesSettled", gameId: command.gameId, suspensions: command.suspensions, released: command.released },
      ];
    }
    case "ExcludeSponsor":
      return decideExclusion(command, state);
    default: {
      const unreachable: never = command;
      throw new IllegalStateError(`unknown command ${JSON.stringify(unreachable)}`);
    }
  }
}

/**
 * Why a resolution may not settle this open game, or undefined: it names the sponsors the game was
 * opened with, a cancellation (stakes released at once) is of a game one of whose sponsors the
 * ledger excluded (the only cause of one), and its amounts (credit awards with their count, expiry
 * and cap, suspension ends) are exactly the ones the policy the game opened under gives its outcome
 * at its resolution time (resolutionAmountsForgery).
 */
function settlementForgery(
  command: Extract<LedgerCommand, { type: "SettleGame" }>,
  game: OpenGame,
  state: LedgerState,
): string | undefined {
  if (command.sponsorIds[0] !== game.sponsorIds[0] || command.sponsorIds[1] !== game.sponsorIds[1]) {
    return `it names sponsors ${command.sponsorIds.join(", ")}, but the game was opened with ${game.sponsorIds.join(", ")}`;
  }
  if (command.released && !game.sponsorIds.some((id) => state.slots.get(id)?.excluded === true)) {
    return "it cancels a game neither of whose sponsors was excluded";
  }
  const claim = command.resolution;
  if (!claim) return undefined;
  if ((claim.outcome === "cancelled") !== command.released) {
    return `outcome ${claim.outcome}, yet the stakes are ${command.released ? "" : "not "}released`;
  }
  if (!game.policy) return "the policy the game opened under is not known to the ledger";
  return resolutionAmountsForgery(
    game.policy,
    {
      action: claim.action,
      sponsorAId: game.sponsorIds[0],
      sponsorBId: game.sponsorIds[1],
      outcome: claim.outcome,
      resolvedAt: claim.resolvedAt,
      noShowIds: claim.noShowIds,
    },
    { credits: claim.credits, suspensions: command.suspensions },
  );
}

/**
 * Why a retargeted stake period may not be adopted, or undefined. No member signs a retarget (the
 * adjudicator computes it from the admissions it counted), so what the ledger can check is the policy's
 * own bounds: its rate target is on, the period lies within [min, max], and, after the interval the
 * ledger adopted last (or from the policy's own period), it moved by at most the policy's step.
 */
function stakePeriodForgery(policy: Policy, adopted: StakePeriod | undefined, next: StakePeriod): string | undefined {
  const target = policy.rateTarget;
  if (target.admissionsPerInterval === 0) return `policy v${policy.version} has no rate target`;
  if (next.stakePeriodMs < target.minStakePeriodMs || next.stakePeriodMs > target.maxStakePeriodMs) {
    return `${next.stakePeriodMs} ms lies outside the policy's [${target.minStakePeriodMs}, ${target.maxStakePeriodMs}] ms`;
  }
  if (adopted !== undefined && adopted.interval !== next.interval - 1) return undefined;
  const from = adopted?.stakePeriodMs ?? policy.admission.stakePeriodMs;
  const factor = 1 + target.maxStepPercent / 100;
  if (next.stakePeriodMs < Math.floor(from / factor) - 1 || next.stakePeriodMs > Math.ceil(from * factor) + 1) {
    return `${from} ms to ${next.stakePeriodMs} ms is a larger step than the policy's ${target.maxStepPercent}%`;
  }
  return undefined;
}

/**
 * Why a member may not be registered on this admission, or undefined: its parents in the lineage (the
 * sponsors of a sponsored member, the controller of a controlled one) are members the ledger knows.
 */
function registrationForgery(admission: SponsorAdmission | undefined, state: LedgerState): string | undefined {
  if (!admission) return undefined;
  const parents = admission.kind === "controlled" ? [admission.controllerId] : admission.sponsorIds;
  const unknown = parents.find((id) => !state.slots.has(id));
  if (unknown === undefined) return undefined;
  return `its ${admission.kind === "controlled" ? "controller" : "sponsor"} ${unknown} is not a member`;
}

function decidePropose(command: Extract<LedgerCommand, { type: "Propose" }>, state: LedgerState): LedgerEvent[] {
  const existing = state.proposals.get(command.proposalId);
  if (existing) {
    const same =
      existing.proposerId === command.proposerId &&
      existing.partnerId === command.partnerId &&
      sameBytes(existing.signature, command.signature);
    if (same) return [];
    throw new AlreadyExistsError(`proposal ${command.proposalId} already exists with other content`);
  }
  const ended = state.retiredProposals.get(command.proposalId);
  if (ended) {
    throw new AlreadyExistsError(
      `proposal ${command.proposalId} was already used (it ${proposalEndSentence(ended)}): propose again with a new proposal id`,
    );
  }
  const policy = state.policy;
  if (!policy) throw new IllegalStateError("no policy has been adopted yet: the operator must publish one");
  if (command.partnerId === command.proposerId) {
    throw new ValidationError("partner_id", "a member cannot propose a game to itself");
  }
  const proposer = state.slots.get(command.proposerId);
  if (!proposer) throw new NotFoundError(`proposer ${command.proposerId} is not a member`);
  if (!state.slots.has(command.partnerId)) throw new NotFoundError(`partner ${command.partnerId} is not a member`);
  const digest = actionDigest(command.action);
  if (
    !verify(
      command.signature,
      proposePayload(command.networkId, command.proposalId, command.proposerId, command.partnerId, digest),
      proposer.publicKey,
    )
  ) {
    throw new PermissionError(
      `signature does not verify against the key of proposer ${command.proposerId} for network '${command.networkId}'`,
    );
  }
  const rules = rulesFor(policy, actionKind(command.action));
  if (!rules) {
    throw new IllegalStateError(
      `policy v${policy.version} has no rules for action kind '${actionKind(command.action)}'`,
    );
  }
  if (command.action.type === "admission") {
    const action = command.action;
    // A consent that verifies proves the key valid (verify is strict: a canonical point, not of small
    // order), so only a consent that fails pays for decoding the point to say which input is wrong.
    const consent = consentPayload(command.networkId, {
      candidatePublicKey: action.candidatePublicKey,
      agreementVersion: action.agreementVersion,
      agreementHash: action.agreementHash,
      proposalId: action.consentProposalId,
      controllerId: action.consentControllerId,
      expiresAtMs: action.consentExpiresAtMs,
    });
    const consented = verify(action.consentSignature, consent, action.candidatePublicKey);
    if (!consented && !isValidPublicKey(action.candidatePublicKey)) {
      throw new ValidationError("action.admission.consent.candidate_public_key", "is not a valid Ed25519 public key");
    }
    const candidateId = memberIdOf(action.candidatePublicKey);
    if (state.slots.has(candidateId)) throw new AlreadyExistsError(`candidate ${candidateId} is already a member`);
    const agreement = state.agreement;
    if (!agreement) throw new IllegalStateError("the network has no legal agreement yet: bootstrap it first");
    if (action.agreementVersion !== agreement.version || !sameBytes(action.agreementHash, agreement.hash)) {
      throw new IllegalStateError(
        `the candidate consented to agreement v${action.agreementVersion}, but the current agreement is v${agreement.version}: collect a new consent`,
      );
    }
    // A consent is public once proposed: it admits through this proposal only, never another one.
    if (action.consentProposalId !== command.proposalId) {
      throw new PermissionError(
        action.consentProposalId === ""
          ? `the candidate's consent is for a credit redeemed by member ${action.consentControllerId}, not for proposal ${command.proposalId}`
          : `the candidate consented to proposal ${action.consentProposalId}, not to proposal ${command.proposalId}`,
      );
    }
    if (action.consentExpiresAtMs <= command.now) {
      throw new IllegalStateError(
        `the candidate's consent expired at ${new Date(action.consentExpiresAtMs).toISOString()}: collect a new consent`,
      );
    }
    if (!consented) {
      throw new PermissionError(
        `the candidate's consent signature does not verify against the candidate's key for network '${command.networkId}'`,
      );
    }
  }
  const blocked = unavailability(state, command.proposerId, command.now);
  if (blocked) throw new IllegalStateError(blocked);
  const cooldown = state.pairCooldowns.get(pairKey(command.proposerId, command.partnerId)) ?? 0;
  if (cooldown > command.now) {
    throw new IllegalStateError(
      `members ${command.proposerId} and ${command.partnerId} played together recently; they may again from ${new Date(cooldown).toISOString()}`,
    );
  }
  // Growth rules, those that never lift first: neither sponsor is barred for good and the pair is
  // not related; then the proposer may stake now and has room for one more pending proposal.
  const refusal =
    growthRefusal(state, policy, command.proposerId, command.now, true) ??
    growthRefusal(state, policy, command.partnerId, command.now, true) ??
    lineageRefusal(state, policy, command.proposerId, command.partnerId) ??
    growthRefusal(state, policy, command.proposerId, command.now) ??
    pendingProposalRefusal(state, policy, command.proposerId, command.now);
  if (refusal) throw refusal;
  return [
    {
      type: "ProposalMade",
      proposalId: command.proposalId,
      proposerId: command.proposerId,
      partnerId: command.partnerId,
      action: command.action,
      madeAt: command.now,
      expiresAt: command.now + policy.proposalTtlMs,
      signature: command.signature,
    },
  ];
}

function pendingProposal(state: LedgerState, proposalId: string): Proposal {
  const proposal = state.proposals.get(proposalId);
  if (proposal) return proposal;
  const ended = state.retiredProposals.get(proposalId);
  if (ended) throw new IllegalStateError(`proposal ${proposalId} ${proposalEndSentence(ended)}`);
  throw new NotFoundError(`proposal ${proposalId} does not exist`);
}

function checkAnswerSignature(
  answer: "accept" | "decline" | "cancel",
  command: { networkId: string; proposalId: string; memberId: string; signature: Uint8Array },
  state: LedgerState,
): void {
  const slot = state.slots.get(command.memberId);
  const payload = answerPayload(command.networkId, answer, command.proposalId, command.memberId);
  if (!slot || !verify(command.signature, payload, slot.publicKey)) {
    throw new PermissionError(
      `signature does not verify against the key of member ${command.memberId} for network '${command.networkId}'`,
    );
  }
}

function decideAccept(command: Answer, state: LedgerState): LedgerEvent[] {
  const proposal = pendingProposal(state, command.proposalId);
  if (command.memberId !== proposal.partnerId) {
    throw new PermissionError(`only the partner ${proposal.partnerId} can accept proposal ${proposal.proposalId}`);
  }
  checkAnswerSignature("accept", command, state);
  if (proposal.status === "accepted") return [];
  if (proposal.status !== "pending")
    throw new IllegalStateError(`proposal ${proposal.proposalId} is ${proposal.status}`);
  if (command.now >= proposal.expiresAt) {
    throw new IllegalStateError(
      `proposal ${proposal.proposalId} expired at ${new Date(proposal.expiresAt).toISOString()}`,
    );
  }
  const policy = state.policy;
  if (!policy) throw new IllegalStateError("no policy has been adopted yet");
  const rules = rulesFor(policy, actionKind(proposal.action));
  if (!rules) {
    throw new IllegalStateError(
      `policy v${policy.version} has no rules for action kind '${actionKind(proposal.action)}'`,
    );
  }
  for (const memberId of [proposal.proposerId, proposal.partnerId]) {
    const blocked = unavailability(state, memberId, command.now);
    if (blocked) throw new IllegalStateError(blocked);
  }
  const cooldown = state.pairCooldowns.get(pairKey(proposal.proposerId, proposal.partnerId)) ?? 0;
  if (cooldown > command.now) {
    throw new IllegalStateError(`this pair of sponsors is cooling down until ${new Date(cooldown).toISOString()}`);
  }
  // The policy may have changed since the proposal: both sponsors are checked against the one in force.
  const refusal =
    growthRefusal(state, policy, proposal.partnerId, command.now, true) ??
    growthRefusal(state, policy, proposal.proposerId, command.now, true) ??
    lineageRefusal(state, policy, proposal.proposerId, proposal.partnerId) ??
    growthRefusal(state, policy, proposal.partnerId, command.now) ??
    growthRefusal(state, policy, proposal.proposerId, command.now);
  if (refusal) throw refusal;
  if (proposal.action.type === "admission" && state.slots.has(memberIdOf(proposal.action.candidatePublicKey))) {
    throw new AlreadyExistsError(`candidate ${memberIdOf(proposal.action.candidatePublicKey)} is already a member`);
  }
  const slotA = state.slots.get(proposal.proposerId)!;
  const slotB = state.slots.get(proposal.partnerId)!;
  return [
    {
      type: "GameOpened",
      gameId: proposal.proposalId,
      sponsorA: { memberId: slotA.memberId, publicKey: slotA.publicKey },
      sponsorB: { memberId: slotB.memberId, publicKey: slotB.publicKey },
      action: proposal.action,
      policyVersion: policy.version,
      openedAt: command.now,
      stakeLockedUntil: command.now + stakePeriodFor(state, policy, proposal.action, rules),
      pairCooldownUntil: command.now + policy.pairCooldownMs,
      opening: { proposalSignature: proposal.signature, acceptSignature: command.signature },
    },
  ];
}

/** The stake period of a game opened now: for an admission, the retargeted one when there is one. */
export function stakePeriodFor(state: LedgerState, policy: Policy, action: ActionSpec, rules: GameRules): number {
  const retargeted = state.stakePeriod;
  if (action.type === "admission" && retargeted && retargeted.policyVersion === policy.version) {
    return retargeted.stakePeriodMs;
  }
  return rules.stakePeriodMs;
}

function decideWithdrawal(command: Answer, state: LedgerState): LedgerEvent[] {
  const proposal = pendingProposal(state, command.proposalId);
  const decline = command.type === "Decline";
  const allowed = decline ? proposal.partnerId : proposal.proposerId;
  if (command.memberId !== allowed) {
    throw new PermissionError(
      `only ${decline ? "the partner" : "the proposer"} ${allowed} can ${decline ? "decline" : "cancel"} proposal ${proposal.proposalId}`,
    );
  }
  checkAnswerSignature(decline ? "decline" : "cancel", command, state);
  if (proposal.status === (decline ? "declined" : "cancelled")) return [];
  if (proposal.status !== "pending")
    throw new IllegalStateError(`proposal ${proposal.proposalId} is ${proposal.status}`);
  return decline
    ? [{ type: "ProposalDeclined", proposalId: proposal.proposalId, memberId: command.memberId }]
    : [
        {
          type: "ProposalCancelled",
          proposalId: proposal.proposalId,
          memberId: command.memberId,
          reason: "withdrawn by the proposer",
        },
      ];
}

function decideExclusion(
  command: Extract<LedgerCommand, { type: "ExcludeSponsor" }>,
  state: LedgerState,
): LedgerEvent[] {
  const slot = state.slots.get(command.memberId);
  if (slot?.excluded) return [];
  const openGame = openGameOf(state, command.memberId);
  // The scan covers only the proposals still kept (made within about one proposal TTL), not history.
  const cancelledProposalIds = [
    ...[...state.proposals.values()]
      .filter((p) => p.status === "pending" && (p.proposerId === command.memberId || p.partnerId === command.memberId))
      .map((p) => p.proposalId)
      .sort(),
    ...(openGame ? [openGame.gameId] : []),
  ];
  const penalty = state.policy?.exclusionSponsorPenaltyMs ?? 0;
  const suspensions =
    penalty > 0
      ? command.accountableSponsorIds
          .filter((id) => state.slots.has(id))
          .map((memberId) => ({ memberId, untilMs: command.now + penalty }))
      : [];
  return [
    {
      type: "SponsorExcluded",
      memberId: command.memberId,
      accountableSponsorIds: command.accountableSponsorIds,
      cancelledProposalIds,
      suspensions,
    },
  ];
}

export function evolveLedger(state: LedgerState, event: LedgerEvent): LedgerState {
  switch (event.type) {
    case "SponsorRegistered":
      return {
        ...state,
        slots: state.slots.set(event.memberId, {
          memberId: event.memberId,
          publicKey: event.publicKey,
          excluded: false,
          lockedUntil: 0,
          lockGameId: undefined,
          suspendedUntil: 0,
          admission: event.admission,
          openings: [],
          pending: [],
        }),
      };
    case "SponsorExcluded": {
      let slots = state.slots;
      const slot = slots.get(event.memberId);
      if (slot) slots = slots.set(event.memberId, { ...slot, excluded: true });
      slots = suspend(slots, event.suspensions);
      let proposals = state.proposals;
      for (const id of event.cancelledProposalIds) {
        const proposal = proposals.get(id);
        if (proposal?.status === "pending") {
          proposals = proposals.set(id, { ...proposal, status: "cancelled" });
          slots = withoutPending(slots, proposal);
        }
      }
      return { ...state, slots, proposals };
    }
    case "PolicyAdopted":
      return { ...state, policy: event.policy, stakePeriod: undefined };
    case "StakePeriodAdopted": {
      const { type: _type, ...stakePeriod } = event;
      return { ...state, stakePeriod };
    }
    case "AgreementAdopted":
      return { ...state, agreement: { version: event.agreement.version, hash: event.agreement.hash } };
    case "OperatorKeysRecorded":
      return { ...state, operatorSets: [...state.operatorSets, event.operators] };
    case "ProposalMade": {
      const advanced = advanceClock(state, event.madeAt);
      const { type: _type, ...proposal } = event;
      const proposer = advanced.slots.get(event.proposerId);
      return {
        ...advanced,
        slots: proposer
          ? advanced.slots.set(event.proposerId, { ...proposer, pending: [...proposer.pending, event.proposalId] })
          : advanced.slots,
        proposals: advanced.proposals.set(event.proposalId, { ...proposal, status: "pending" }),
        proposalDeadlines: advanced.proposalDeadlines.push({ key: event.proposalId, at: event.expiresAt }),
      };
    }
    case "ProposalDeclined":
      return withProposalStatus(state, event.proposalId, "declined");
    case "ProposalCancelled":
      return withProposalStatus(state, event.proposalId, "cancelled");
    case "GameOpened": {
      const advanced = withProposalStatus(advanceClock(state, event.openedAt), event.gameId, "accepted");
      let slots = advanced.slots;
      const quotaWindow = advanced.policy?.growth.sponsorQuotaWindowMs ?? 0;
      for (const sponsor of [event.sponsorA, event.sponsorB]) {
        const slot = slots.get(sponsor.memberId);
        if (slot)
          slots = slots.set(sponsor.memberId, {
            ...slot,
            lockedUntil: event.stakeLockedUntil,
            lockGameId: event.gameId,
            openings:
              quotaWindow > 0
                ? [...slot.openings.filter((at) => at > event.openedAt - quotaWindow), event.openedAt]
                : [],
          });
      }
      const pair = pairKey(event.sponsorA.memberId, event.sponsorB.memberId);
      return {
        ...advanced,
        slots,
        openGames: advanced.openGames.set(event.gameId, {
          gameId: event.gameId,
          sponsorIds: [event.sponsorA.memberId, event.sponsorB.memberId],
          policy: advanced.policy?.version === event.policyVersion ? advanced.policy : undefined,
        }),
        pairCooldowns: advanced.pairCooldowns.set(pair, event.pairCooldownUntil),
        cooldownDeadlines: advanced.cooldownDeadlines.push({ key: pair, at: event.pairCooldownUntil }),
      };
    }
    case "StakesSettled": {
      let slots = state.slots;
      const game = state.openGames.get(event.gameId);
      if (event.released && game) {
        for (const memberId of game.sponsorIds) {
          const slot = slots.get(memberId);
          if (slot && slot.lockGameId === event.gameId)
            slots = slots.set(memberId, { ...slot, lockedUntil: 0, lockGameId: undefined });
        }
      }
      slots = suspend(slots, event.suspensions);
      const settled = { ...state, slots, openGames: state.openGames.delete(event.gameId) };
      // An accepted proposal outlives its expiry while its game is open (the pruning queue skipped
      // it); once the game is settled it goes. Before its expiry, its queue entry retires it later.
      const proposal = settled.proposals.get(event.gameId);
      return proposal?.status === "accepted" && proposal.expiresAt <= settled.clock
        ? retire(settled, proposal)
        : settled;
    }
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}

function suspend(slots: PersistentMap<string, Slot>, suspensions: readonly Suspension[]): PersistentMap<string, Slot> {
  for (const { memberId, untilMs } of suspensions) {
    const slot = slots.get(memberId);
    if (slot) slots = slots.set(memberId, { ...slot, suspendedUntil: Math.max(slot.suspendedUntil, untilMs) });
  }
  return slots;
}

function withProposalStatus(state: LedgerState, proposalId: string, status: ProposalStatus): LedgerState {
  const proposal = state.proposals.get(proposalId);
  if (!proposal) return state;
  return {
    ...state,
    slots: proposal.status === "pending" && status !== "pending" ? withoutPending(state.slots, proposal) : state.slots,
    proposals: state.proposals.set(proposalId, { ...proposal, status }),
  };
}

/** The proposer's slot without the proposal among its pending ones (it was answered, withdrawn or closed). */
function withoutPending(slots: PersistentMap<string, Slot>, proposal: Proposal): PersistentMap<string, Slot> {
  const slot = slots.get(proposal.proposerId);
  if (!slot || !slot.pending.includes(proposal.proposalId)) return slots;
  return slots.set(proposal.proposerId, {
    ...slot,
    pending: slot.pending.filter((id) => id !== proposal.proposalId),
  });
}

function retire(state: LedgerState, proposal: Proposal): LedgerState {
  const end: ProposalEnd =
    proposal.status === "pending" ? "expired" : proposal.status === "accepted" ? "played" : proposal.status;
  return {
    ...state,
    slots: proposal.status === "pending" ? withoutPending(state.slots, proposal) : state.slots,
    proposals: state.proposals.delete(proposal.proposalId),
    retiredProposals: state.retiredProposals.set(proposal.proposalId, end),
    retiredDeadlines: state.retiredDeadlines.push({
      key: proposal.proposalId,
      at: state.clock + RETIRED_ID_HORIZON_MS,
    }),
  };
}

/**
 * Moves the ledger's clock to an event's time (it never goes back) and drops what that time has
 * passed: proposals past their expiry, unless their game is still open, and ended pair cool-downs.
 * Both queues are in event order, so their deadlines are nearly sorted; each entry is looked at once
 * when it reaches the head, which makes pruning O(1) amortised per event. An entry behind a later
 * deadline (a policy that shortened the TTL) waits for it: pruned late, never early.
 */
function advanceClock(state: LedgerState, time: number): LedgerState {
  if (time <= state.clock) return state;
  const clock = time;
  let next: LedgerState = { ...state, clock };
  let queue = next.proposalDeadlines;
  for (let head = queue.first(); head && head.at <= clock; head = queue.first()) {
    queue = queue.shift();
    const proposal = next.proposals.get(head.key);
    // Stale entry, or a proposal whose game is open: StakesSettled retires it.
    if (!proposal || proposal.expiresAt !== head.at || next.openGames.has(head.key)) continue;
    next = retire(next, proposal);
  }
  let cooldowns = next.pairCooldowns;
  let cooldownQueue = next.cooldownDeadlines;
  for (let head = cooldownQueue.first(); head && head.at <= clock; head = cooldownQueue.first()) {
    cooldownQueue = cooldownQueue.shift();
    // A pair that played again since has a later cool-down, which its own entry ends.
    if (cooldowns.get(head.key) === head.at) cooldowns = cooldowns.delete(head.key);
  }
  // Retired ids go once the horizon has passed (retired in clock order, so the queue is sorted).
  let retired = next.retiredProposals;
  let retiredQueue = next.retiredDeadlines;
  for (let head = retiredQueue.first(); head && head.at <= clock; head = retiredQueue.first()) {
    retiredQueue = retiredQueue.shift();
    retired = retired.delete(head.key);
  }
  return {
    ...next,
    proposalDeadlines: queue,
    pairCooldowns: cooldowns,
    cooldownDeadlines: cooldownQueue,
    retiredProposals: retired,
    retiredDeadlines: retiredQueue,
  };
}
