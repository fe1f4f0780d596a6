import { sha256 } from "./crypto.js";

/**
 * Canonical byte strings that members sign. Each starts with a domain tag so a signature made for
 * one purpose can never be replayed for another, and every field is length-prefixed so no two
 * different field lists encode to the same bytes.
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

export function encodeFields(tag: string, ...fields: (string | Uint8Array | number)[]): Uint8Array {
  const parts = [tag, ...fields].map((field) =>
    typeof field === "string" ? encoder.encode(field) : typeof field === "number" ? uint32(field) : field,
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

export function consentPayload(
  candidatePublicKey: Uint8Array,
  agreementVersion: number,
  agreementHash: Uint8Array,
): Uint8Array {
  return encodeFields(DOMAIN.consent, candidatePublicKey, agreementVersion, agreementHash);
}

/** What a proposal commits to: `action` is the canonical digest of the action (see actionDigest). */
export function proposePayload(
  proposalId: string,
  proposerId: string,
  partnerId: string,
  actionDigest: Uint8Array,
): Uint8Array {
  return encodeFields(DOMAIN.propose, proposalId, proposerId, partnerId, actionDigest);
}

export function answerPayload(
  answer: "accept" | "decline" | "cancel",
  proposalId: string,
  memberId: string,
): Uint8Array {
  return encodeFields(DOMAIN[answer], proposalId, memberId);
}

export type ActionSpec =
  | {
      readonly type: "admission";
      readonly candidatePublicKey: Uint8Array;
      readonly agreementVersion: number;
      readonly agreementHash: Uint8Array;
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

export function commitPayload(gameId: string, memberId: string, commitment: Uint8Array): Uint8Array {
  return encodeFields(DOMAIN.commit, gameId, memberId, commitment);
}

export function revealPayload(gameId: string, memberId: string, move: MoveName, nonce: Uint8Array): Uint8Array {
  return encodeFields(DOMAIN.reveal, gameId, memberId, move, nonce);
}

export function redeemPayload(memberId: string, candidatePublicKey: Uint8Array, requestId: string): Uint8Array {
  return encodeFields(DOMAIN.redeem, memberId, candidatePublicKey, requestId);
}
