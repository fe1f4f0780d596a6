import type { Consent } from "@pot/contracts";
import { bytesToHex, hexToBytes } from "@pot/mechanism";

export const CONSENT_FORMAT = "pot-consent/v1";

/**
 * A signed consent as JSON (hex bytes): what a candidate hands to its sponsors, or to the member
 * redeeming a credit for it. It holds no secret.
 */
export interface ConsentJson {
  readonly format: typeof CONSENT_FORMAT;
  readonly candidateId: string;
  readonly agreementVersion: number;
  readonly agreementHash: string;
  readonly signature: string;
}

export function consentToJson(consent: Consent): ConsentJson {
  return {
    format: CONSENT_FORMAT,
    candidateId: bytesToHex(consent.candidatePublicKey),
    agreementVersion: consent.agreementVersion,
    agreementHash: bytesToHex(consent.agreementHash),
    signature: bytesToHex(consent.signature),
  };
}

/** Parses a consent written by consentToJson; throws a sentence naming what is wrong. */
export function consentFromJson(data: unknown): Consent {
  const record = (typeof data === "object" && data !== null ? data : {}) as Record<string, unknown>;
  if (record.format !== CONSENT_FORMAT) throw new Error(`not a consent (format is not "${CONSENT_FORMAT}")`);
  const hex = (field: string, length: number): Uint8Array => {
    const value = record[field];
    if (typeof value !== "string" || !new RegExp(`^[0-9a-f]{${length * 2}}$`).test(value)) {
      throw new Error(`consent ${field} must be ${length * 2} lowercase hex characters`);
    }
    return hexToBytes(value);
  };
  const version = record.agreementVersion;
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
    throw new Error("consent agreementVersion must be a whole number from 1");
  }
  return {
    candidatePublicKey: hex("candidateId", 32),
    agreementVersion: version,
    agreementHash: hex("agreementHash", 32),
    signature: hex("signature", 64),
  };
}
