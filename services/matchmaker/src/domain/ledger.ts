import {
  actionDigest,
  AlreadyExistsError,
  answerPayload,
  consentPayload,
  IllegalStateError,
  isValidPublicKey,
  memberIdOf,
  NotFoundError,
  PermissionError,
  proposePayload,
  rulesFor,
  ValidationError,
  verify,
  type ActionSpec,
  type Policy,
  sameBytes,
} from "@pot/mechanism";

/**
 * The matchmaker's one aggregate: every staking slot, proposal and pair cool-down of the network.
 * Opening a game changes two members' slots at once; JetStream (before 2.12's atomic batches) can
 * only make one subject's append conditional, so the slots share one consistency boundary.
 */
export interface Slot {
  readonly memberId: string;
  readonly publicKey: Uint8Array;
  readonly excluded: boolean;
  readonly lockedUntil: number;
  readonly lockGameId: string | undefined;
  readonly suspendedUntil: number;
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
}

export interface LedgerState {
  readonly slots: ReadonlyMap<string, Slot>;
  readonly proposals: ReadonlyMap<string, Proposal>;
  /** Games opened and not yet settled, by id. */
  readonly openGames: ReadonlyMap<string, OpenGame>;
  readonly pairCooldowns: ReadonlyMap<string, number>;
  readonly policy: Policy | undefined;
  /** The legal agreement candidates must consent to now. */
  readonly agreement: Agreement | undefined;
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
  | { readonly type: "SponsorRegistered"; readonly memberId: string; readonly publicKey: Uint8Array }
  | {
      readonly type: "SponsorExcluded";
      readonly memberId: string;
      readonly accountableSponsorIds: readonly string[];
      readonly cancelledProposalIds: readonly string[];
      readonly suspensions: readonly Suspension[];
    }
  | { readonly type: "PolicyAdopted"; readonly policy: Policy }
  | { readonly type: "AgreementAdopted"; readonly agreement: Agreement & { readonly uri: string } }
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
    }
  | {
      readonly type: "StakesSettled";
      readonly gameId: string;
      readonly suspensions: readonly Suspension[];
      readonly released: boolean;
    };

export interface Answer {
  readonly type: "Accept" | "Decline" | "Cancel";
  readonly proposalId: string;
  readonly memberId: string;
  readonly signature: Uint8Array;
  readonly now: number;
}

export type LedgerCommand =
  | { readonly type: "RegisterSponsor"; readonly memberId: string; readonly publicKey: Uint8Array }
  | { readonly type: "AdoptPolicy"; readonly policy: Policy }
  | { readonly type: "AdoptAgreement"; readonly agreement: Agreement & { readonly uri: string } }
  | {
      readonly type: "Propose";
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
      readonly suspensions: readonly Suspension[];
      readonly released: boolean;
    }
  | {
      readonly type: "ExcludeSponsor";
      readonly memberId: string;
      readonly accountableSponsorIds: readonly string[];
      readonly now: number;
    };

export const LEDGER_ID = "ledger";

export const initialLedgerState: LedgerState = {
  slots: new Map(),
  proposals: new Map(),
  openGames: new Map(),
  pairCooldowns: new Map(),
  policy: undefined,
  agreement: undefined,
};

export function pairKey(x: string, y: string): string {
  return x < y ? `${x}:${y}` : `${y}:${x}`;
}

export function actionKind(action: ActionSpec): string {
  return action.type === "admission" ? "admission" : action.kind;
}

/** Why the member cannot stake now, or undefined when the slot is free. */
export function unavailability(state: LedgerState, memberId: string, now: number): string | undefined {
  const slot = state.slots.get(memberId);
  if (!slot) return `member ${memberId} is not known to the matchmaker`;
  if (slot.excluded) return `member ${memberId} is excluded`;
  for (const game of state.openGames.values()) {
    if (game.sponsorIds.includes(memberId)) return `member ${memberId} is playing game ${game.gameId}`;
  }
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
    case "RegisterSponsor":
      if (state.slots.has(command.memberId)) return [];
      return [{ type: "SponsorRegistered", memberId: command.memberId, publicKey: command.publicKey }];
    case "AdoptPolicy":
      if (state.policy && state.policy.version >= command.policy.version) return [];
      return [{ type: "PolicyAdopted", policy: command.policy }];
    case "AdoptAgreement":
      if (state.agreement && state.agreement.version >= command.agreement.version) return [];
      return [{ type: "AgreementAdopted", agreement: command.agreement }];
    case "Propose":
      return decidePropose(command, state);
    case "Accept":
      return decideAccept(command, state);
    case "Decline":
    case "Cancel":
      return decideWithdrawal(command, state);
    case "SettleGame":
      if (!state.openGames.has(command.gameId)) return [];
      return [
        { type: "StakesSettled", gameId: command.gameId, suspensions: command.suspensions, released: command.released },
      ];
    case "ExcludeSponsor":
      return decideExclusion(command, state);
    default: {
      const unreachable: never = command;
      throw new IllegalStateError(`unknown command ${JSON.stringify(unreachable)}`);
    }
  }
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
      proposePayload(command.proposalId, command.proposerId, command.partnerId, digest),
      proposer.publicKey,
    )
  ) {
    throw new PermissionError(`signature does not verify against the key of proposer ${command.proposerId}`);
  }
  const rules = rulesFor(policy, actionKind(command.action));
  if (!rules) {
    throw new IllegalStateError(
      `policy v${policy.version} has no rules for action kind '${actionKind(command.action)}'`,
    );
  }
  if (command.action.type === "admission") {
    const action = command.action;
    if (!isValidPublicKey(action.candidatePublicKey)) {
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
    const consent = consentPayload(action.candidatePublicKey, action.agreementVersion, action.agreementHash);
    if (!verify(action.consentSignature, consent, action.candidatePublicKey)) {
      throw new PermissionError("the candidate's consent signature does not verify against the candidate's key");
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
  if (!proposal) throw new NotFoundError(`proposal ${proposalId} does not exist`);
  return proposal;
}

function checkAnswerSignature(
  answer: "accept" | "decline" | "cancel",
  command: { proposalId: string; memberId: string; signature: Uint8Array },
  state: LedgerState,
): void {
  const slot = state.slots.get(command.memberId);
  if (
    !slot ||
    !verify(command.signature, answerPayload(answer, command.proposalId, command.memberId), slot.publicKey)
  ) {
    throw new PermissionError(`signature does not verify against the key of member ${command.memberId}`);
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
      stakeLockedUntil: command.now + rules.stakePeriodMs,
      pairCooldownUntil: command.now + policy.pairCooldownMs,
    },
  ];
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
  const cancelledProposalIds = [
    ...[...state.proposals.values()]
      .filter((p) => p.status === "pending" && (p.proposerId === command.memberId || p.partnerId === command.memberId))
      .map((p) => p.proposalId),
    ...[...state.openGames.values()].filter((g) => g.sponsorIds.includes(command.memberId)).map((g) => g.gameId),
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
    case "SponsorRegistered": {
      const slots = new Map(state.slots);
      slots.set(event.memberId, {
        memberId: event.memberId,
        publicKey: event.publicKey,
        excluded: false,
        lockedUntil: 0,
        lockGameId: undefined,
        suspendedUntil: 0,
      });
      return { ...state, slots };
    }
    case "SponsorExcluded": {
      const slots = new Map(state.slots);
      const slot = slots.get(event.memberId);
      if (slot) slots.set(event.memberId, { ...slot, excluded: true });
      suspend(slots, event.suspensions);
      const proposals = new Map(state.proposals);
      for (const id of event.cancelledProposalIds) {
        const proposal = proposals.get(id);
        if (proposal?.status === "pending") proposals.set(id, { ...proposal, status: "cancelled" });
      }
      return { ...state, slots, proposals };
    }
    case "PolicyAdopted":
      return { ...state, policy: event.policy };
    case "AgreementAdopted":
      return { ...state, agreement: { version: event.agreement.version, hash: event.agreement.hash } };
    case "ProposalMade": {
      const proposals = new Map(state.proposals);
      const { type: _type, ...proposal } = event;
      proposals.set(event.proposalId, { ...proposal, status: "pending" });
      return { ...state, proposals };
    }
    case "ProposalDeclined":
      return withProposalStatus(state, event.proposalId, "declined");
    case "ProposalCancelled":
      return withProposalStatus(state, event.proposalId, "cancelled");
    case "GameOpened": {
      const slots = new Map(state.slots);
      for (const sponsor of [event.sponsorA, event.sponsorB]) {
        const slot = slots.get(sponsor.memberId);
        if (slot)
          slots.set(sponsor.memberId, { ...slot, lockedUntil: event.stakeLockedUntil, lockGameId: event.gameId });
      }
      const openGames = new Map(state.openGames);
      openGames.set(event.gameId, {
        gameId: event.gameId,
        sponsorIds: [event.sponsorA.memberId, event.sponsorB.memberId],
      });
      const pairCooldowns = new Map(state.pairCooldowns);
      pairCooldowns.set(pairKey(event.sponsorA.memberId, event.sponsorB.memberId), event.pairCooldownUntil);
      return { ...withProposalStatus(state, event.gameId, "accepted"), slots, openGames, pairCooldowns };
    }
    case "StakesSettled": {
      const slots = new Map(state.slots);
      const game = state.openGames.get(event.gameId);
      if (event.released && game) {
        for (const memberId of game.sponsorIds) {
          const slot = slots.get(memberId);
          if (slot && slot.lockGameId === event.gameId)
            slots.set(memberId, { ...slot, lockedUntil: 0, lockGameId: undefined });
        }
      }
      suspend(slots, event.suspensions);
      const openGames = new Map(state.openGames);
      openGames.delete(event.gameId);
      return { ...state, slots, openGames };
    }
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}

function suspend(slots: Map<string, Slot>, suspensions: readonly Suspension[]): void {
  for (const { memberId, untilMs } of suspensions) {
    const slot = slots.get(memberId);
    if (slot) slots.set(memberId, { ...slot, suspendedUntil: Math.max(slot.suspendedUntil, untilMs) });
  }
}

function withProposalStatus(state: LedgerState, proposalId: string, status: ProposalStatus): LedgerState {
  const proposal = state.proposals.get(proposalId);
  if (!proposal) return state;
  const proposals = new Map(state.proposals);
  proposals.set(proposalId, { ...proposal, status });
  return { ...state, proposals };
}
