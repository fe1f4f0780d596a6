import * as nodeCrypto from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { bytesToHex, hexToBytes } from "@noble/curves/utils.js";
import { isReducedScalar, opensslSignature, opensslVerifies, signingKey, verifyingKey } from "./ed25519-node.js";

export { bytesToHex, hexToBytes };

export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const NONCE_BYTES = 32;
export const HASH_BYTES = 32;

// crypto.hash (Node 20.12+) skips the Hash object; createHash on older 20.x (a namespace import, as a named
// import of a missing export would not even load there).
const oneShotHash: typeof nodeCrypto.hash | undefined = nodeCrypto.hash;

export function sha256(data: Uint8Array): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new TypeError("sha256 expects a Uint8Array");
  const digest =
    oneShotHash !== undefined
      ? oneShotHash("sha256", data, "buffer")
      : nodeCrypto.createHash("sha256").update(data).digest();
  return new Uint8Array(digest);
}

export interface KeyPair {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** A fresh Ed25519 key pair (uses the platform's secure random source). */
export function generateKeyPair(): KeyPair {
  return keyPairFromSecret(nodeCrypto.getRandomValues(new Uint8Array(32)));
}

export function keyPairFromSecret(secretKey: Uint8Array): KeyPair {
  return { secretKey, publicKey: signingKey(secretKey).publicKey.slice() };
}

/** A deterministic RFC 8032 Ed25519 signature (OpenSSL through node:crypto; keys cached by secret). */
export function sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  const { key } = signingKey(secretKey);
  if (!(message instanceof Uint8Array)) throw new TypeError('"message" expected Uint8Array');
  return opensslSignature(message, key);
}

/**
 * Strict RFC 8032 verification (no ZIP-215 leniency); false for any malformed input. Exactly the answer of
 * @noble/curves' `ed25519.verify(signature, message, publicKey, { zip215: false })`: S >= L, a non-canonical
 * R or A, and a small-order A are refused, and the cofactored equation [8][S]B = [8]R + [8][k]A decides.
 *
 * OpenSSL (node:crypto) answers first. It checks the cofactorless [S]B = R + [k]A, which implies the
 * cofactored one, so its true is final (A's encoding is checked here, once per key, as OpenSSL does not
 * refuse small-order keys). The two differ only for a signature whose R or A carries a small-order
 * component, which no honest signer produces: so OpenSSL's false is confirmed by noble, and a rejected
 * signature costs what every verification cost before (an accepted one is ~10x cheaper).
 *
 * A true answer implies `isValidPublicKey(publicKey)`: callers may skip that (slower) check when a
 * signature by the key verifies.
 */
export function verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (!(signature instanceof Uint8Array) || !(message instanceof Uint8Array) || !(publicKey instanceof Uint8Array))
    return false;
  if (signature.length !== SIGNATURE_BYTES || publicKey.length !== PUBLIC_KEY_BYTES) return false;
  if (!isReducedScalar(signature.subarray(32))) return false;
  const key = verifyingKey(publicKey);
  if (key === "refused") return false;
  if (key !== "unimportable" && opensslVerifies(signature, message, key)) return true;
  return nobleVerify(signature, message, publicKey);
}

/** @noble/curves' strict verification, false when it throws. */
function nobleVerify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/** A usable member key: a valid curve point that is not of small order. */
export function isValidPublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_BYTES) return false;
  try {
    return !ed25519.Point.fromBytes(publicKey).isSmallOrder();
  } catch {
    return false;
  }
}

/** Byte-wise equality (not constant-time: only ever compares public values). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}

/** A member's id is the lowercase hex of its public key: self-certifying, nothing to look up. */
export function memberIdOf(publicKey: Uint8Array): string {
  return bytesToHex(publicKey);
}

export function publicKeyOf(memberId: string): Uint8Array {
  return hexToBytes(memberId);
}
