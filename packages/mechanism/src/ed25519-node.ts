// Ed25519 on node:crypto (OpenSSL), about 10x faster than the pure-JS @noble/curves for sign and verify.
// Internal to the package: crypto.ts wraps these with the exact strict semantics it documents, and the unit
// tests check them against @noble/curves. Not re-exported from index.ts.
import { createPrivateKey, createPublicKey, sign as opensslSign, verify as opensslVerify } from "node:crypto";
import type { KeyObject } from "node:crypto";

/** A bounded least-recently-used map (a Map keeps insertion order; a hit moves the entry to the end). */
export class LruCache<V> {
  readonly #entries = new Map<string, V>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, value);
  }
}

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

// Little-endian encodings. p = 2^255 - 19; L = 2^252 + 27742317777372353535851937790883648493.
const GROUP_ORDER_LE = Buffer.from("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010", "hex");

/** S < L, for the 32-byte little-endian S half of a signature (RFC 8032 5.1.7: refuse non-canonical S). */
export function isReducedScalar(bytes: Uint8Array): boolean {
  if (bytes.length !== 32) return false;
  for (let index = 31; index >= 0; index--) {
    const byte = bytes[index]!;
    const bound = GROUP_ORDER_LE[index]!;
    if (byte !== bound) return byte < bound;
  }
  return false; // equal to L
}

/**
 * The y coordinates (sign bit cleared) of the 8 points of small order: 1 (the identity), p-1 (order 2),
 * 0 (the two points of order 4) and ±y8 (the four points of order 8). Refusing these y values also refuses
 * x = 0 with the sign bit set (y = ±1), a non-canonical encoding.
 */
const SMALL_ORDER_Y = [
  "0100000000000000000000000000000000000000000000000000000000000000",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "0000000000000000000000000000000000000000000000000000000000000000",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
].map((hex) => Buffer.from(hex, "hex"));

/**
 * What a public key's encoding alone decides, with no curve arithmetic: false when y >= p (non-canonical),
 * when the point would be of small order, or when it would be x = 0 with the sign bit set. True does not
 * mean the key is on the curve: a y with no matching x passes here and fails later in OpenSSL and noble.
 * For a point on the curve this equals noble's strict `!Point.fromBytes(key).isSmallOrder()`.
 */
export function passesKeyEncodingCheck(publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32) return false;
  const y = Buffer.from(publicKey);
  y[31] = y[31]! & 0x7f;
  // y >= p = 2^255 - 19 iff bytes 31..1 are 7f ff .. ff and byte 0 >= 0xed.
  let top = y[31] === 0x7f;
  for (let index = 30; top && index >= 1; index--) top = y[index] === 0xff;
  if (top && y[0]! >= 0xed) return false;
  return !SMALL_ORDER_Y.some((smallOrder) => smallOrder.equals(y));
}

/** A verifying key, or why there is none: refused by its encoding, or OpenSSL would not import it. */
export type VerifyingKey = KeyObject | "refused" | "unimportable";

const verifyingKeys = new LruCache<VerifyingKey>(4096);

/** The cached OpenSSL key for a 32-byte public key (the caller checks the length). */
export function verifyingKey(publicKey: Uint8Array): VerifyingKey {
  const x = base64url(publicKey);
  let key = verifyingKeys.get(x);
  if (key === undefined) {
    if (!passesKeyEncodingCheck(publicKey)) key = "refused";
    else {
      try {
        // JWK import is ~15x faster than an SPKI DER one (OpenSSL 3's DER decoders are slow).
        key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" });
      } catch {
        key = "unimportable";
      }
    }
    verifyingKeys.set(x, key);
  }
  return key;
}

/** OpenSSL's verdict: cofactorless [S]B = R + [k]A, R compared as bytes, S < L; false when it throws. */
export function opensslVerifies(signature: Uint8Array, message: Uint8Array, key: KeyObject): boolean {
  try {
    return opensslVerify(null, message, key, signature);
  } catch {
    return false;
  }
}

interface SigningKey {
  readonly key: KeyObject;
  readonly publicKey: Uint8Array;
}

const PKCS8_SEED_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const signingKeys = new LruCache<SigningKey>(1024);

/** The cached OpenSSL key and the public key for a 32-byte RFC 8032 secret key (seed). */
export function signingKey(seed: Uint8Array): SigningKey {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    const got = seed instanceof Uint8Array ? `length=${seed.length}` : typeof seed;
    throw new TypeError(`"secretKey" expected Uint8Array of length 32, got ${got}`);
  }
  const d = base64url(seed);
  let entry = signingKeys.get(d);
  if (entry === undefined) {
    entry = importSeed(seed, d);
    signingKeys.set(d, entry);
  }
  return entry;
}

function importSeed(seed: Uint8Array, d: string): SigningKey {
  try {
    // Node derives the public key from d (OpenSSL computes it); x is required to be a string but not read.
    // An empty x cannot pass for a real public key: if a Node version ever used it, the length check fails.
    const key = createPrivateKey({ key: { kty: "OKP", crv: "Ed25519", d, x: "" }, format: "jwk" });
    const publicKey = publicKeyOfJwk(key);
    if (publicKey.length === 32) return { key, publicKey };
  } catch {
    // fall through to the slower, documented PKCS#8 import
  }
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_SEED_PREFIX, seed]), format: "der", type: "pkcs8" });
  return { key, publicKey: publicKeyOfJwk(key) };
}

function publicKeyOfJwk(key: KeyObject): Uint8Array {
  const { x } = key.export({ format: "jwk" });
  return new Uint8Array(Buffer.from(x ?? "", "base64url"));
}

/** A deterministic RFC 8032 signature, byte-identical to any conforming implementation's. */
export function opensslSignature(message: Uint8Array, key: KeyObject): Uint8Array {
  return new Uint8Array(opensslSign(null, message, key));
}
