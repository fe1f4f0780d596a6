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
  // Two passes over the fields, writing into one buffer: no array per number (payloads are made
  // for every signature checked and every action digested, a rebuild's hottest allocation).
  const parts: (Uint8Array | number | bigint)[] = new Array(fields.length + 1);
  parts[0] = tagBytes(tag);
  let total = 4 + parts[0].length;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    const part = typeof field === "string" ? encoder.encode(field) : field;
    parts[i + 1] = part;
    total += 4 + (typeof part === "number" ? 4 : typeof part === "bigint" ? 8 : part.length);
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const part of parts) {
    if (typeof part === "number") {
      view.setUint32(offset, 4, false);
      view.setUint32(offset + 4, part >>> 0, false);
      offset += 8;
    } else if (typeof part === "bigint") {
      view.setUint32(offset, 8, false);
      view.setBigUint64(offset + 4, BigInt.asUintN(64, part), false);
      offset += 12;
    } else {
      view.setUint32(offset, part.length, false);
      out.set(part, offset + 4);
      offset += 4 + part.length;
    }
  }
  return out;
}

const tags = new Map<string, Uint8Array>();

/** The UTF-8 of a domain tag, encoded once (tags are the few constants of DOMAIN and the like). */
function tagBytes(tag: string): Uint8Array {
  let bytes = tags.get(tag);
  if (bytes === undefined) {
    bytes = encoder.encode(tag);
    if (tags.size < 256) tags.set(tag, bytes);
  }
  return bytes;
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
