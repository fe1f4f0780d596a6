import type { Consent } from "@pot/contracts";
import { bytesToHex, hexToBytes, isNetworkId } from "@pot/mechanism";

export const CONSENT_FORMAT = "pot-consent/v2";

/**
 * A signed consent as JSON (hex bytes): what a candidate hands to its sponsors, or to the member
 * redeeming a credit for it. It holds no secret. The consent is valid in network `networkId` only, for
 * one context — the proposal `proposalId` (which the proposer uses as the proposal id) or a credit
 * redeemed by `controllerId` — until `expiresAtMs` (Unix ms; `expiresAt` repeats it for people).
 */
export interface ConsentJson {
  readonly format: typeof CONSENT_FORMAT;
  readonly networkId: string;
  readonly candidateId: string;
  readonly agreementVersion: number;
  readonly agreementHash: string;
  readonly proposalId: string;
  readonly controllerId: string;
  readonly expiresAtMs: number;
  readonly expiresAt: string;
  readonly signature: string;
}

export function consentToJson(networkId: string, consent: Consent): ConsentJson {
  const expiresAtMs = Number(consent.expiresAtMs);
  return {
    format: CONSENT_FORMAT,
    networkId,
    candidateId: bytesToHex(consent.candidatePublicKey),
    agreementVersion: consent.agreementVersion,
    agreementHash: bytesToHex(consent.agreementHash),
    proposalId: consent.proposalId,
    controllerId: consent.controllerId,
    expiresAtMs,
    expiresAt: new Date(expiresAtMs).toISOString(),
    signature: bytesToHex(consent.signature),
  };
}

/** Parses a consent written by consentToJson; throws a sentence naming what is wrong. */
export function consentFromJson(data: unknown): { networkId: string; consent: Consent } {
  const record = (typeof data === "object" && data !== null ? data : {}) as Record<string, unknown>;
  if (record.format !== CONSENT_FORMAT) {
    throw new Error(
      `not a consent (format is not "${CONSENT_FORMAT}"; a consent of an older format names no network, proposal or expiry: sign a new one with pot consent)`,
    );
  }
  const hex = (field: string, length: number): Uint8Array => {
    const value = record[field];
    if (typeof value !== "string" || !new RegExp(`^[0-9a-f]{${length * 2}}$`).test(value)) {
      throw new Error(`consent ${field} must be ${length * 2} lowercase hex characters`);
    }
    return hexToBytes(value);
  };
  const text = (field: string): string => {
    const value = record[field] ?? "";
    if (typeof value !== "string" || value.length > 128)
      throw new Error(`consent ${field} must be a string of at most 128 characters`);
    return value;
  };
  const version = record.agreementVersion;
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
    throw new Error("consent agreementVersion must be a whole number from 1");
  }
  const networkId = record.networkId;
  if (typeof networkId !== "string" || !isNetworkId(networkId)) {
    throw new Error("consent networkId must be 1-64 characters of a-z, 0-9 and '-'");
  }
  const expiresAtMs = record.expiresAtMs;
  if (typeof expiresAtMs !== "number" || !Number.isSafeInteger(expiresAtMs) || expiresAtMs < 1) {
    throw new Error("consent expiresAtMs must be a time in Unix ms");
  }
  const proposalId = text("proposalId");
  const controllerId = text("controllerId");
  if ((proposalId === "") === (controllerId === "")) {
    throw new Error("consent must name exactly one of proposalId and controllerId");
  }
  return {
    networkId,
    consent: {
      candidatePublicKey: hex("candidateId", 32),
      agreementVersion: version,
      agreementHash: hex("agreementHash", 32),
      proposalId,
      controllerId,
      expiresAtMs: BigInt(expiresAtMs),
      signature: hex("signature", 64),
    },
  };
}
