import { memberIdOf, publicKeyOf, sameBytes, verify } from "./crypto.js";
import { isMemberId } from "./ids.js";
import {
  actionDigest,
  answerPayload,
  commitmentOf,
  commitPayload,
  consentPayload,
  proposePayload,
  redeemPayload,
  revealPayload,
  type ActionSpec,
  type ConsentTerms,
  type MoveName,
} from "./payloads.js";

/**
 * The member signatures an event carries to justify what it makes another service do, and the pure
 * checks a reacting service runs on them before it acts (docs/events.md, "Signatures carried by
 * events"). Each check answers why the evidence does not justify the event, or undefined when it
 * does; the key of every signer is its member id (a member id is the hex of its public key), so a
 * check needs no lookup, only the network id.
 */

/** Sponsor A's signature over the propose payload and sponsor B's over the accept payload. */
export interface OpeningSignatures {
  readonly proposalSignature: Uint8Array;
  readonly acceptSignature: Uint8Array;
}

/** One sponsor's commitment and, once revealed, its move and nonce, each with the sponsor's signature. */
export interface SignedMove {
  readonly commitment: Uint8Array;
  readonly commitSignature: Uint8Array;
  /** Undefined while (or because) the sponsor did not reveal. */
  readonly move: MoveName | undefined;
  readonly nonce: Uint8Array;
  readonly revealSignature: Uint8Array;
}

export interface EvidenceSponsor {
  readonly memberId: string;
  readonly publicKey: Uint8Array;
}

/** What a game's opening claims: two sponsors played a game of this id over this action. */
export interface OpeningClaim {
  readonly gameId: string;
  readonly sponsorA: EvidenceSponsor;
  readonly sponsorB: EvidenceSponsor;
  readonly action: ActionSpec;
}

export const NO_OPENING: OpeningSignatures = {
  proposalSignature: new Uint8Array(),
  acceptSignature: new Uint8Array(),
};

/** A sponsor whose id is not the hex of its key, or not a member id at all. */
function sponsorForgery(role: string, sponsor: EvidenceSponsor): string | undefined {
  if (!isMemberId(sponsor.memberId)) return `${role} '${sponsor.memberId.slice(0, 80)}' is not a member id`;
  if (memberIdOf(sponsor.publicKey) !== sponsor.memberId)
    return `${role} ${sponsor.memberId} is named with another key`;
  return undefined;
}

/**
 * Why the sponsors' signatures do not open this game, or undefined: sponsor A signed the proposal
 * (game id = proposal id, A, B, the action's digest), sponsor B signed its accept, each with the key
 * its member id names; for an admission, the candidate consented to this very proposal.
 */
export function openingForgery(networkId: string, claim: OpeningClaim, opening: OpeningSignatures): string | undefined {
  const sponsors = sponsorForgery("sponsor A", claim.sponsorA) ?? sponsorForgery("sponsor B", claim.sponsorB);
  if (sponsors) return sponsors;
  const a = claim.sponsorA.memberId;
  const b = claim.sponsorB.memberId;
  if (a === b) return `sponsor A and sponsor B are the same member ${a}`;
  const proposal = proposePayload(networkId, claim.gameId, a, b, actionDigest(claim.action));
  if (!verify(opening.proposalSignature, proposal, publicKeyOf(a))) {
    return `the proposal signature does not verify against the key of sponsor A ${a}`;
  }
  if (!verify(opening.acceptSignature, answerPayload(networkId, "accept", claim.gameId, b), publicKeyOf(b))) {
    return `the accept signature does not verify against the key of sponsor B ${b}`;
  }
  if (claim.action.type === "admission") return admissionConsentForgery(networkId, claim.gameId, claim.action);
  return undefined;
}

/** The candidate consented to be admitted by this proposal, with its own key. */
function admissionConsentForgery(
  networkId: string,
  proposalId: string,
  action: Extract<ActionSpec, { type: "admission" }>,
): string | undefined {
  if (action.consentProposalId !== proposalId || action.consentControllerId !== "") {
    return `the candidate's consent is not for proposal ${proposalId}`;
  }
  const terms: ConsentTerms = {
    candidatePublicKey: action.candidatePublicKey,
    agreementVersion: action.agreementVersion,
    agreementHash: action.agreementHash,
    proposalId: action.consentProposalId,
    controllerId: action.consentControllerId,
    expiresAtMs: action.consentExpiresAtMs,
  };
  if (!verify(action.consentSignature, consentPayload(networkId, terms), action.candidatePublicKey)) {
    return `the candidate's consent signature does not verify against the candidate's key`;
  }
  return undefined;
}

/**
 * What a sponsor's signed move proves: the move it revealed (signed commitment, signed reveal, and
 * the move and nonce open the commitment), nothing (no commitment, or committed and not revealed),
 * or a forgery: a signature that does not verify, or a reveal that does not open the commitment.
 */
export function signedMoveOf(
  networkId: string,
  gameId: string,
  memberId: string,
  signed: SignedMove | undefined,
): { readonly revealed: MoveName | undefined; readonly forgery?: string } {
  if (!signed || (signed.commitment.length === 0 && signed.commitSignature.length === 0)) {
    return signed && (signed.move !== undefined || signed.revealSignature.length > 0)
      ? { revealed: undefined, forgery: `member ${memberId} revealed without a commitment` }
      : { revealed: undefined };
  }
  const key = publicKeyOf(memberId);
  if (!verify(signed.commitSignature, commitPayload(networkId, gameId, memberId, signed.commitment), key)) {
    return { revealed: undefined, forgery: `the commitment signature of member ${memberId} does not verify` };
  }
  if (signed.move === undefined && signed.revealSignature.length === 0 && signed.nonce.length === 0) {
    return { revealed: undefined };
  }
  if (signed.move === undefined) return { revealed: undefined, forgery: `member ${memberId} revealed no move` };
  if (!verify(signed.revealSignature, revealPayload(networkId, gameId, memberId, signed.move, signed.nonce), key)) {
    return { revealed: undefined, forgery: `the reveal signature of member ${memberId} does not verify` };
  }
  if (!sameBytes(signed.commitment, commitmentOf(gameId, memberId, signed.move, signed.nonce))) {
    return { revealed: undefined, forgery: `the move and nonce of member ${memberId} do not open its commitment` };
  }
  return { revealed: signed.move };
}

export type GameOutcome = "both-cooperated" | "a-defected" | "b-defected" | "both-defected" | "no-show" | "cancelled";

/** The outcome two revealed moves decide: the one rule the adjudicator's decider and every re-check share. */
export function outcomeOfMoves(moveA: MoveName, moveB: MoveName): GameOutcome {
  return moveA === "cooperate"
    ? moveB === "cooperate"
      ? "both-cooperated"
      : "b-defected"
    : moveB === "cooperate"
      ? "a-defected"
      : "both-defected";
}

/** What a resolution claims, as far as the signatures can prove it (amounts and times are policy). */
export interface ResolutionClaim extends OpeningClaim {
  readonly outcome: GameOutcome;
  readonly moveA: MoveName | undefined;
  readonly moveB: MoveName | undefined;
  readonly admitted: boolean;
  readonly granted: boolean;
  /** Members awarded credits. */
  readonly creditedIds: readonly string[];
  readonly suspendedIds: readonly string[];
  readonly noShowIds: readonly string[];
}

export interface GameSignatures {
  readonly opening: OpeningSignatures;
  readonly moveA: SignedMove | undefined;
  readonly moveB: SignedMove | undefined;
}

/**
 * Why a game's resolution is not justified by the signatures it carries, or undefined. The opening
 * must verify; each signed move must verify; the outcome must be the one the revealed moves give
 * (both revealed: the payoff table; otherwise a no-show, whose no-show ids are sponsors that did not
 * reveal) and the moves it names the revealed ones; every effect must follow from the outcome: an
 * admission only when both cooperated on an admission, a grant only when both cooperated on a generic
 * action, credits only to the defector of an admission, suspensions only of the members the outcome
 * can penalise. A cancelled game has no effect but released stakes (an exclusion caused it: the
 * consumer checks that against its own state). The amounts (credits, suspension ends) are the policy's
 * and are not signed: `pot verify` recomputes them.
 */
export function resolutionForgery(
  networkId: string,
  claim: ResolutionClaim,
  signatures: GameSignatures,
): string | undefined {
  const opening = openingForgery(networkId, claim, signatures.opening);
  if (opening) return opening;
  const a = claim.sponsorA.memberId;
  const b = claim.sponsorB.memberId;
  const signedA = signedMoveOf(networkId, claim.gameId, a, signatures.moveA);
  if (signedA.forgery) return signedA.forgery;
  const signedB = signedMoveOf(networkId, claim.gameId, b, signatures.moveB);
  if (signedB.forgery) return signedB.forgery;
  const moveA = signedA.revealed;
  const moveB = signedB.revealed;
  const admission = claim.action.type === "admission";
  let expected: GameOutcome;
  let penalisable: readonly string[];
  let credited: readonly string[] = [];
  if (claim.outcome === "cancelled") {
    expected = "cancelled";
    penalisable = [];
  } else if (moveA !== undefined && moveB !== undefined) {
    expected = outcomeOfMoves(moveA, moveB);
    penalisable =
      expected === "both-defected" ? [a, b] : expected === "a-defected" ? [b] : expected === "b-defected" ? [a] : [];
    credited = !admission ? [] : expected === "a-defected" ? [a] : expected === "b-defected" ? [b] : [];
  } else {
    expected = "no-show";
    const absent = [moveA === undefined ? a : undefined, moveB === undefined ? b : undefined].filter(
      (id): id is string => id !== undefined,
    );
    if (claim.noShowIds.length === 0 || claim.noShowIds.some((id) => !absent.includes(id))) {
      return `no-show ids [${claim.noShowIds.join(", ")}] are not sponsors that failed to reveal`;
    }
    penalisable = claim.noShowIds;
  }
  if (claim.outcome !== expected) {
    return `outcome ${claim.outcome} does not follow from the signed moves (${moveA ?? "none"}, ${moveB ?? "none"}): ${expected}`;
  }
  if (expected !== "cancelled" && (claim.moveA !== moveA || claim.moveB !== moveB)) {
    return `the moves named (${claim.moveA ?? "none"}, ${claim.moveB ?? "none"}) are not the signed ones (${moveA ?? "none"}, ${moveB ?? "none"})`;
  }
  if (expected !== "no-show" && claim.noShowIds.length > 0) return `outcome ${expected} names no-shows`;
  if (claim.admitted && !(admission && expected === "both-cooperated")) {
    return `an admission does not follow from outcome ${expected}`;
  }
  if (claim.granted && !(!admission && expected === "both-cooperated")) {
    return `a grant does not follow from outcome ${expected}`;
  }
  const uncredited = claim.creditedIds.find((id) => !credited.includes(id));
  if (uncredited !== undefined || claim.creditedIds.length > 1) {
    return `credits to member ${uncredited ?? claim.creditedIds[1]} do not follow from outcome ${expected}`;
  }
  const unpenalised = claim.suspendedIds.find((id) => !penalisable.includes(id));
  if (unpenalised !== undefined) return `suspending member ${unpenalised} does not follow from outcome ${expected}`;
  return undefined;
}

/**
 * Why a sponsored admission is not justified, or undefined: the game that admitted it was opened by
 * both sponsors' signatures over an admission of this candidate (its consent, to that game), and both
 * sponsors revealed cooperate.
 */
export function sponsoredAdmissionForgery(
  networkId: string,
  admission: {
    readonly gameId: string;
    readonly sponsorIds: readonly string[];
    readonly action: Extract<ActionSpec, { type: "admission" }>;
  },
  signatures: GameSignatures,
): string | undefined {
  const [a, b] = admission.sponsorIds;
  if (admission.sponsorIds.length !== 2 || a === undefined || b === undefined || !isMemberId(a) || !isMemberId(b)) {
    return `a sponsored admission names ${admission.sponsorIds.length} sponsors, not two member ids`;
  }
  const claim: OpeningClaim = {
    gameId: admission.gameId,
    sponsorA: { memberId: a, publicKey: publicKeyOf(a) },
    sponsorB: { memberId: b, publicKey: publicKeyOf(b) },
    action: admission.action,
  };
  const opening = openingForgery(networkId, claim, signatures.opening);
  if (opening) return opening;
  for (const [memberId, signed] of [
    [a, signatures.moveA],
    [b, signatures.moveB],
  ] as const) {
    const move = signedMoveOf(networkId, admission.gameId, memberId, signed);
    if (move.forgery) return move.forgery;
    if (move.revealed !== "cooperate") return `sponsor ${memberId} did not reveal cooperate`;
  }
  return undefined;
}

/** A controlled admission's evidence: the controller's signed redemption and the candidate's consent. */
export interface RedemptionClaim {
  readonly controllerId: string;
  readonly consent: ConsentTerms & { readonly signature: Uint8Array };
  readonly requestId: string;
  readonly signature: Uint8Array;
}

/**
 * Why a controlled admission is not justified, or undefined: the controller signed the redemption of
 * a credit for this candidate (redeem payload with its request id), and the candidate consented to be
 * controlled by that member.
 */
export function redemptionForgery(networkId: string, claim: RedemptionClaim): string | undefined {
  if (!isMemberId(claim.controllerId)) return `controller '${claim.controllerId.slice(0, 80)}' is not a member id`;
  const consent = claim.consent;
  if (consent.controllerId !== claim.controllerId || consent.proposalId !== "") {
    return `the candidate's consent is not for controller ${claim.controllerId}`;
  }
  if (!verify(consent.signature, consentPayload(networkId, consent), consent.candidatePublicKey)) {
    return `the candidate's consent signature does not verify against the candidate's key`;
  }
  const payload = redeemPayload(networkId, claim.controllerId, consent.candidatePublicKey, claim.requestId);
  if (!verify(claim.signature, payload, publicKeyOf(claim.controllerId))) {
    return `the redeem signature does not verify against the key of controller ${claim.controllerId}`;
  }
  return undefined;
}

/**
 * An event of another service's stream whose carried signatures do not justify what it asks the
 * reacting service to do: the reaction refuses it, acts on nothing, and the consumer reports it
 * (log, metric, dead letter) and moves on. Never a gRPC status: no caller asked for it.
 */
export class ForgedEventError extends Error {
  override readonly name = "ForgedEventError";
  constructor(
    /** The event's type, e.g. "GameResolved". */
    readonly eventType: string,
    message: string,
  ) {
    super(message);
  }
}
