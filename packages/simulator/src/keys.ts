import { createPrivateKey, sign as opensslSign, type KeyObject } from "node:crypto";
import { memberIdOf } from "@pot/mechanism";

/**
 * A simulated member's or candidate's Ed25519 key. The simulator keeps each identity's OpenSSL key
 * object for its whole life (the mechanism's own signing cache holds 1,024 keys, fewer than a
 * simulated network has), and signs exactly as @pot/mechanism's `sign` does (RFC 8032 is
 * deterministic, so the bytes are the same): the deciders verify every signature for real.
 */
export interface SimKey {
  readonly id: string;
  readonly publicKey: Uint8Array;
  readonly key: KeyObject;
}

export function keyFromSeed(seed: Uint8Array): SimKey {
  if (seed.length !== 32) throw new RangeError("an Ed25519 seed is 32 bytes");
  const d = Buffer.from(seed).toString("base64url");
  // Node derives the public key from d; x must be a string but is not read (see mechanism's ed25519-node.ts).
  const key = createPrivateKey({ key: { kty: "OKP", crv: "Ed25519", d, x: "" }, format: "jwk" });
  const { x } = key.export({ format: "jwk" });
  const publicKey = new Uint8Array(Buffer.from(x ?? "", "base64url"));
  return { id: memberIdOf(publicKey), publicKey, key };
}

export function signWith(key: SimKey, message: Uint8Array): Uint8Array {
  return new Uint8Array(opensslSign(null, message, key.key));
}
