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
  type RotateOperatorKeysRequest,
} from "@pot/contracts";
import {
  actionDigest,
  answerPayload,
  commitmentOf,
  commitPayload,
  consentPayload,
  NONCE_BYTES,
  operatorAgreementPayload,
  operatorBootstrapPayload,
  operatorExcludePayload,
  operatorPolicyPayload,
  operatorRotatePayload,
  proposePayload,
  redeemPayload,
  revealPayload,
  sign,
  uuidV7,
  type KeyPair,
  type MoveName,
  type OperatorSignature,
  type Policy,
} from "@pot/mechanism";
import { actionFromWire, policyDigest, policyToWire } from "@pot/wire";
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

/** Each operator key's signature over an operator act's payload (docs/api.md, "Operator signatures"). */
export function operatorSignatures(payload: Uint8Array, signers: readonly KeyPair[]): OperatorSignature[] {
  return signers.map((signer) => ({ publicKey: signer.publicKey, signature: sign(payload, signer.secretKey) }));
}

export interface BootstrapOptions {
  readonly force?: boolean;
  readonly requestId?: string;
  /** The operator keys that sign: at genesis the keys it names, forced a quorum of the current ones. */
  readonly signers: readonly KeyPair[];
  /** NetworkBootstrapped events before this one (GetAgreement's `bootstraps`): 0 for the genesis. */
  readonly bootstrapsBefore?: number;
  /** Genesis: the operator keys to name (default: the signers' keys) and the threshold (default: all of them). */
  readonly operatorKeys?: readonly Uint8Array[];
  readonly operatorThreshold?: number;
}

/**
 * Operator: genesis of network `networkId` (it must be the services' POT_NETWORK_ID), naming the
 * operator keys, signed by them; or, with `bootstrapsBefore` > 0, a forced re-bootstrap signed by a
 * quorum of the current keys (it names none).
 */
export function bootstrapRequest(
  networkId: string,
  members: readonly { publicKey: Uint8Array; displayName?: string }[],
  agreement: { hash: Uint8Array; uri: string },
  options: BootstrapOptions,
): BootstrapRequest {
  const bootstrapsBefore = options.bootstrapsBefore ?? 0;
  const genesis = bootstrapsBefore === 0;
  const operatorKeys = genesis ? (options.operatorKeys ?? options.signers.map((k) => k.publicKey)) : [];
  const operatorThreshold = genesis ? (options.operatorThreshold ?? operatorKeys.length) : 0;
  const requestId = options.requestId ?? randomUUID();
  const force = options.force ?? false;
  const genesisMembers = members.map((m, index) => ({
    publicKey: m.publicKey,
    displayName: m.displayName ?? `genesis-${index}`,
  }));
  const payload = operatorBootstrapPayload(networkId, {
    requestId,
    bootstrapsBefore,
    force,
    members: genesisMembers,
    agreement,
    operatorKeys,
    operatorThreshold,
  });
  return {
    networkId,
    requestId,
    members: genesisMembers,
    agreement: { version: 0, hash: agreement.hash, uri: agreement.uri },
    force,
    operatorKeys: [...operatorKeys],
    operatorThreshold,
    operatorSignatures: operatorSignatures(payload, options.signers),
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

/** Operator: exclude `memberId`, signed by `signers` (a quorum of the operator keys). */
export function excludeRequest(
  networkId: string,
  memberId: string,
  reason: string,
  signers: readonly KeyPair[],
  requestId: string = randomUUID(),
): ExcludeRequest {
  const payload = operatorExcludePayload(networkId, requestId, memberId, reason);
  return { requestId, memberId, reason, operatorSignatures: operatorSignatures(payload, signers) };
}

/**
 * Operator: publish `policy` as version `version` (the current version + 1, from GetPolicy): the
 * signatures name it, so the act applies once, as that version.
 */
export function publishPolicyRequest(
  networkId: string,
  policy: Policy,
  version: number,
  signers: readonly KeyPair[],
  requestId: string = randomUUID(),
): PublishPolicyRequest {
  const payload = operatorPolicyPayload(networkId, requestId, version, policyDigest(policy));
  return { requestId, policy: policyToWire(policy), operatorSignatures: operatorSignatures(payload, signers) };
}

/**
 * Operator: publish an agreement that becomes version `version` (the current version + 1, or the
 * current version when `hash` is the current agreement's).
 */
export function publishAgreementRequest(
  networkId: string,
  agreement: { hash: Uint8Array; uri: string },
  version: number,
  signers: readonly KeyPair[],
  requestId: string = randomUUID(),
): PublishAgreementRequest {
  const payload = operatorAgreementPayload(networkId, requestId, version, agreement.hash, agreement.uri);
  return {
    requestId,
    hash: agreement.hash,
    uri: agreement.uri,
    operatorSignatures: operatorSignatures(payload, signers),
  };
}

/** Operator: replace operator key set `currentVersion` by `keys` (M = `threshold`), signed by the current quorum. */
export function rotateOperatorKeysRequest(
  networkId: string,
  currentVersion: number,
  keys: readonly Uint8Array[],
  threshold: number,
  signers: readonly KeyPair[],
  requestId: string = randomUUID(),
): RotateOperatorKeysRequest {
  const payload = operatorRotatePayload(networkId, requestId, currentVersion, keys, threshold);
  return { requestId, keys: [...keys], threshold, operatorSignatures: operatorSignatures(payload, signers) };
}

export function moveToWire(move: MoveName): Move {
  return move === "cooperate" ? Move.MOVE_COOPERATE : Move.MOVE_DEFECT;
}
