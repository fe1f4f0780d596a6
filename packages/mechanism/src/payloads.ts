import { sha256 } from "./crypto.js";

/**
 * Canonical byte strings that members sign. Each starts with a domain tag so a signature made for
 * one purpose can never be replayed for another, then the network id, so a signature made in one
 * network can never be replayed into another; every field is length-prefixed so no two different
 * field lists encode to the same bytes. docs/api.md ("Signatures") describes each byte by byte.
 */
export const DOMAIN = {
  consent: "pot/v1/consent",
  propose: "pot/v1/propose",
  accept: "pot/v1/accept",
  decline: "pot/v1/decline",
  cancel: "pot/v1/cancel",
  commitment: "pot/v1/commitment",
  commit: "pot/v1/commit",
  reveal: "pot/v1/reveal",
  redeem: "pot/v1/redeem",
} as const;

export type MoveName = "cooperate" | "defect";

const encoder = new TextEncoder();

/**
 * A network's id: 1-64 characters of a-z, 0-9 and '-'. The operator names it at genesis (Bootstrap)
 * and every service is configured with it (POT_NETWORK_ID).
 */
export const NETWORK_ID_PATTERN = /^[a-z0-9-]{1,64}$/;

export function isNetworkId(value: string): boolean {
  return NETWORK_ID_PATTERN.test(value);
}

/**
 * The network id a deployment uses when none is configured: its namespace (`[a-z][a-z0-9_]{0,31}`)
 * with '_' as '-', so `pot` is network `pot` and every test namespace is a network of its own.
 */
export function networkIdOfNamespace(namespace: string): string {
  return namespace.replaceAll("_", "-");
}

/** A field of a payload: a string (UTF-8), bytes, a number (uint32) or a bigint (uint64), all big-endian. */
export type PayloadField = string | Uint8Array | number | bigint;

export function encodeFields(tag: string, ...fields: PayloadField[]): Uint8Array {
  const parts = [tag, ...fields].map((field) =>
    typeof field === "string"
      ? encoder.encode(field)
      : typeof field === "number"
        ? uint32(field)
        : typeof field === "bigint"
          ? uint64(field)
          : field,
  );
  const total = parts.reduce((sum, part) => sum + 4 + part.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(uint32(part.length), offset);
    out.set(part, offset + 4);
    offset += 4 + part.length;
  }
  return out;
}

function uint32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0, false);
  return out;
}

function uint64(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, value), false);
  return out;
}

/**
 * What a candidate consents to: this network's agreement (version and hash), in one context only —
 * the proposal that may admit it (`proposalId`, then `controllerId` is empty) or the member that may
 * redeem a credit for it (`controllerId`, then `proposalId` is empty) — until `expiresAtMs`.
 */
export interface ConsentTerms {
  readonly candidatePublicKey: Uint8Array;
  readonly agreementVersion: number;
  readonly agreementHash: Uint8Array;
  readonly proposalId: string;
  readonly controllerId: string;
  /** Unix ms after which the consent may no longer be used. */
  readonly expiresAtMs: number;
}

export function consentPayload(networkId: string, terms: ConsentTerms): Uint8Array {
  return encodeFields(
    DOMAIN.consent,
    networkId,
    terms.candidatePublicKey,
    terms.agreementVersion,
    terms.agreementHash,
    terms.proposalId,
    terms.controllerId,
    BigInt(terms.expiresAtMs),
  );
}

/** What a proposal commits to: `action` is the canonical digest of the action (see actionDigest). */
export function proposePayload(
  networkId: string,
  proposalId: string,
  proposerId: string,
  partnerId: string,
  actionDigest: Uint8Array,
): Uint8Array {
  return encodeFields(DOMAIN.propose, networkId, proposalId, proposerId, partnerId, actionDigest);
}

export function answerPayload(
  networkId: string,
  answer: "accept" | "decline" | "cancel",
  proposalId: string,
  memberId: string,
): Uint8Array {
  return encodeFields(DOMAIN[answer], networkId, proposalId, memberId);
}

export type ActionSpec =
  | {
      readonly type: "admission";
      readonly candidatePublicKey: Uint8Array;
      readonly agreementVersion: number;
      readonly agreementHash: Uint8Array;
      /** The proposal the candidate consented to be admitted by (the consent's context). */
      readonly consentProposalId: string;
      /** Empty in a valid admission: a consent for a controller is refused at Propose. */
      readonly consentControllerId: string;
      readonly consentExpiresAtMs: number;
      readonly consentSignature: Uint8Array;
    }
  | { readonly type: "generic"; readonly kind: string; readonly payload: Uint8Array };

export function actionDigest(action: ActionSpec): Uint8Array {
  switch (action.type) {
    case "admission":
      return sha256(
        encodeFields(
          "admission",
          action.candidatePublicKey,
          action.agreementVersion,
          action.agreementHash,
          action.consentProposalId,
          action.consentControllerId,
          BigInt(action.consentExpiresAtMs),
          action.consentSignature,
        ),
      );
    case "generic":
      return sha256(encodeFields("generic", action.kind, action.payload));
    default: {
      const unreachable: never = action;
      return unreachable;
    }
  }
}

/** SHA-256(domain tag ‖ game id ‖ member id ‖ move ‖ 32-byte nonce), each length-prefixed. */
export function commitmentOf(gameId: string, memberId: string, move: MoveName, nonce: Uint8Array): Uint8Array {
  return sha256(encodeFields(DOMAIN.commitment, gameId, memberId, move, nonce));
}

export function commitPayload(networkId: string, gameId: string, memberId: string, commitment: Uint8Array): Uint8Array {
  return encodeFields(DOMAIN.commit, networkId, gameId, memberId, commitment);
}

export function revealPayload(
  networkId: string,
  gameId: string,
  memberId: string,
  move: MoveName,
  nonce: Uint8Array,
): Uint8Array {
  return encodeFields(DOMAIN.reveal, networkId, gameId, memberId, move, nonce);
}

export function redeemPayload(
  networkId: string,
  memberId: string,
  candidatePublicKey: Uint8Array,
  requestId: string,
): Uint8Array {
  return encodeFields(DOMAIN.redeem, networkId, memberId, candidatePublicKey, requestId);
}
