import { randomUUID } from "node:crypto";
import {
  Move,
  type AcceptRequest,
  type Action,
  type BootstrapRequest,
  type CommitMoveRequest,
  type Consent,
  type ExcludeRequest,
  type ProposeRequest,
  type PublishAgreementRequest,
  type PublishPolicyRequest,
  type RedeemCreditRequest,
  type RevealMoveRequest,
} from "@pot/contracts";
import {
  actionDigest,
  answerPayload,
  commitmentOf,
  commitPayload,
  consentPayload,
  NONCE_BYTES,
  proposePayload,
  redeemPayload,
  revealPayload,
  sign,
  uuidV7,
  type MoveName,
  type Policy,
} from "@pot/mechanism";
import { actionFromWire, policyToWire } from "@pot/wire";
import type { Member } from "./members.js";

/**
 * Builders of every request a member or an operator sends. They are pure apart from fresh ids and
 * nonces (which can be passed in): each signs exactly the canonical payload the services verify
 * (packages/mechanism/src/payloads.ts, docs/api.md "Signatures"). Every signature names the network
 * (`networkId`, from IdentityService/GetAgreement): it verifies in that network only.
 */

/** The network's legal agreement, as a candidate consents to it. */
export interface AgreementRef {
  readonly version: number;
  /** SHA-256 of the agreement document (32 bytes). */
  readonly hash: Uint8Array;
}

/**
 * Where a consent may be used, and until when: by one proposal (its id, which the proposer then uses)
 * or by one member redeeming a credit for the candidate; `expiresAtMs` is Unix ms.
 */
export type ConsentContext = ({ readonly proposalId: string } | { readonly controllerId: string }) & {
  readonly expiresAtMs: number;
};

/** The candidate's signed consent: made with the candidate's key, handed to the sponsors (or controller). */
export function consentOf(
  networkId: string,
  candidate: Member,
  agreement: AgreementRef,
  context: ConsentContext,
): Consent {
  const terms = {
    candidatePublicKey: candidate.keys.publicKey,
    agreementVersion: agreement.version,
    agreementHash: agreement.hash,
    proposalId: "proposalId" in context ? context.proposalId : "",
    controllerId: "controllerId" in context ? context.controllerId : "",
    expiresAtMs: context.expiresAtMs,
  };
  return {
    ...terms,
    expiresAtMs: BigInt(terms.expiresAtMs),
    signature: sign(consentPayload(networkId, terms), candidate.keys.secretKey),
  };
}

export function admissionAction(consent: Consent): Action {
  return { action: { $case: "admission", value: { consent } } };
}

/** The proposal id an admission's consent names (the id to propose it under), if any. */
export function consentedProposalId(action: Action): string | undefined {
  const body = action.action;
  return body?.$case === "admission" && body.value.consent?.proposalId ? body.value.consent.proposalId : undefined;
}

export function genericAction(kind: string, payload: Uint8Array = new Uint8Array()): Action {
  return { action: { $case: "generic", value: { kind, payload } } };
}

/** Operator: genesis of network `networkId` (it must be the services' POT_NETWORK_ID). */
export function bootstrapRequest(
  networkId: string,
  members: readonly { publicKey: Uint8Array; displayName?: string }[],
  agreement: { hash: Uint8Array; uri: string },
  options: { force?: boolean; requestId?: string } = {},
): BootstrapRequest {
  return {
    networkId,
    requestId: options.requestId ?? randomUUID(),
    members: members.map((m, index) => ({ publicKey: m.publicKey, displayName: m.displayName ?? `genesis-${index}` })),
    agreement: { version: 0, hash: agreement.hash, uri: agreement.uri },
    force: options.force ?? false,
  };
}

/**
 * A fresh proposal id: a UUIDv7 carrying its creation time, as the matchmaker requires (made within
 * the last 7 days), so that it can forget ids once they are too old to be proposed again. A
 * candidate's consent names the proposal it admits through: make that id with this too.
 */
export function newProposalId(nowMs: number = Date.now()): string {
  return uuidV7(nowMs, crypto.getRandomValues(new Uint8Array(10)));
}

/**
 * Sponsor A proposes to B a game over `action`; the proposal id becomes the game id. For an admission
 * it defaults to the proposal id the candidate's consent names (a consent admits through that proposal only).
 */
export function proposeRequest(
  networkId: string,
  proposer: Member,
  partnerId: string,
  action: Action,
  proposalId: string = consentedProposalId(action) ?? newProposalId(),
): ProposeRequest {
  const digest = actionDigest(actionFromWire(action));
  return {
    proposalId,
    proposerId: proposer.id,
    partnerId,
    action,
    signature: sign(proposePayload(networkId, proposalId, proposer.id, partnerId, digest), proposer.keys.secretKey),
  };
}

export type Answer = "accept" | "decline" | "cancel";

/** Accept or decline (by the partner) or cancel (by the proposer) a proposal. */
export function answerRequest(networkId: string, answer: Answer, member: Member, proposalId: string): AcceptRequest {
  return {
    proposalId,
    memberId: member.id,
    signature: sign(answerPayload(networkId, answer, proposalId, member.id), member.keys.secretKey),
  };
}

/** A move and the secret nonce that hides it until the reveal. Keep both until the game resolves. */
export interface SealedMove {
  readonly move: MoveName;
  readonly nonce: Uint8Array;
}

export function sealMove(
  move: MoveName,
  nonce: Uint8Array = crypto.getRandomValues(new Uint8Array(NONCE_BYTES)),
): SealedMove {
  if (nonce.length !== NONCE_BYTES) throw new Error(`a nonce has ${NONCE_BYTES} bytes, got ${nonce.length}`);
  return { move, nonce };
}

export function commitRequest(
  networkId: string,
  member: Member,
  gameId: string,
  sealed: SealedMove,
): CommitMoveRequest {
  const commitment = commitmentOf(gameId, member.id, sealed.move, sealed.nonce);
  return {
    gameId,
    memberId: member.id,
    commitment,
    signature: sign(commitPayload(networkId, gameId, member.id, commitment), member.keys.secretKey),
  };
}

export function revealRequest(
  networkId: string,
  member: Member,
  gameId: string,
  sealed: SealedMove,
): RevealMoveRequest {
  return {
    gameId,
    memberId: member.id,
    move: moveToWire(sealed.move),
    nonce: sealed.nonce,
    signature: sign(revealPayload(networkId, gameId, member.id, sealed.move, sealed.nonce), member.keys.secretKey),
  };
}

/**
 * A member spends an admission credit on an identity it controls: `consent` must name the member as
 * its controller (consentOf with `{ controllerId: member.id }`).
 */
export function redeemRequest(
  networkId: string,
  member: Member,
  consent: Consent,
  requestId: string = randomUUID(),
): RedeemCreditRequest {
  return {
    requestId,
    memberId: member.id,
    consent,
    signature: sign(redeemPayload(networkId, member.id, consent.candidatePublicKey, requestId), member.keys.secretKey),
  };
}

export function excludeRequest(memberId: string, reason: string, requestId: string = randomUUID()): ExcludeRequest {
  return { requestId, memberId, reason };
}

export function publishPolicyRequest(policy: Policy, requestId: string = randomUUID()): PublishPolicyRequest {
  return { requestId, policy: policyToWire(policy) };
}

export function publishAgreementRequest(
  agreement: { hash: Uint8Array; uri: string },
  requestId: string = randomUUID(),
): PublishAgreementRequest {
  return { requestId, hash: agreement.hash, uri: agreement.uri };
}

export function moveToWire(move: MoveName): Move {
  return move === "cooperate" ? Move.MOVE_COOPERATE : Move.MOVE_DEFECT;
}
