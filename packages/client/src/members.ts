import { generateKeyPair, hexToBytes, keyPairFromSecret, memberIdOf, type KeyPair } from "@pot/mechanism";

/** A member as its owner holds it: the key pair, and the id derived from the public key. */
export interface Member {
  readonly keys: KeyPair;
  /** Lowercase hex of the 32-byte Ed25519 public key. */
  readonly id: string;
}

export function newMember(): Member {
  const keys = generateKeyPair();
  return { keys, id: memberIdOf(keys.publicKey) };
}

export function memberFromSecret(secretKey: Uint8Array): Member {
  if (secretKey.length !== 32) throw new Error(`an Ed25519 secret key has 32 bytes, got ${secretKey.length}`);
  const keys = keyPairFromSecret(secretKey);
  return { keys, id: memberIdOf(keys.publicKey) };
}

export function memberFromSecretHex(secretKeyHex: string): Member {
  if (!/^[0-9a-f]{64}$/i.test(secretKeyHex)) throw new Error("a secret key is 64 hex characters");
  return memberFromSecret(hexToBytes(secretKeyHex.toLowerCase()));
}
