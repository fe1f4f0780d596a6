// node:crypto-backed Ed25519 and sha256 against @noble/curves' strict RFC 8032 verification (the oracle).
import assert from "node:assert/strict";
import { createHash, verify as opensslVerify } from "node:crypto";
import { describe, test } from "node:test";
import { ed25519 } from "@noble/curves/ed25519.js";
import fc from "fast-check";
import { isReducedScalar, LruCache, passesKeyEncodingCheck, verifyingKey } from "./ed25519-node.js";
import {
  bytesToHex,
  generateKeyPair,
  hexToBytes,
  isValidPublicKey,
  keyPairFromSecret,
  sha256,
  sign,
  verify,
} from "./index.js";

const Point = ed25519.Point;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const P = 2n ** 255n - 19n;

/** The oracle: noble's strict verification, false when it throws. */
function strict(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

function agree(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  const expected = strict(signature, message, publicKey);
  assert.equal(
    verify(signature, message, publicKey),
    expected,
    `verify(${bytesToHex(signature)}, ${bytesToHex(message)}, ${bytesToHex(publicKey)})`,
  );
  return expected;
}

const toLe = (value: bigint): Uint8Array => {
  const bytes = new Uint8Array(32);
  for (let index = 0; index < 32; index++) bytes[index] = Number((value >> BigInt(8 * index)) & 0xffn);
  return bytes;
};
const fromLe = (bytes: Uint8Array): bigint => bytes.reduceRight((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
const mod = (value: bigint, m: bigint): bigint => ((value % m) + m) % m;
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const challenge = (r: Uint8Array, a: Uint8Array, message: Uint8Array): bigint =>
  mod(
    fromLe(
      new Uint8Array(
        createHash("sha512")
          .update(concat(r, a, message))
          .digest(),
      ),
    ),
    L,
  );

/** The 8 canonical encodings of the points of small order. */
const SMALL_ORDER = [
  "0100000000000000000000000000000000000000000000000000000000000000", // identity
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
  "0000000000000000000000000000000000000000000000000000000000000000", // order 4
  "0000000000000000000000000000000000000000000000000000000000000080", // order 4
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
].map(hexToBytes);
/** Non-canonical encodings of small-order points: x = 0 with the sign bit, and y + p for y = 0 and y = 1. */
const SMALL_ORDER_NON_CANONICAL = [
  "0100000000000000000000000000000000000000000000000000000000000080", // identity, x = 0 with sign bit
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // order 2, x = 0 with sign bit
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p (0)
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p (0), sign bit
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p + 1 (1)
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p + 1 (1), sign bit
].map(hexToBytes);
/** Every y >= p, with and without the sign bit: non-canonical encodings of whatever y - p is. */
const ALL_Y_AT_LEAST_P = Array.from({ length: 19 }, (_, k) => P + BigInt(k)).flatMap((y) => {
  const low = toLe(y);
  const high = toLe(y);
  high[31] = high[31]! | 0x80;
  return [low, high];
});

const seeds = fc.uint8Array({ minLength: 32, maxLength: 32 });
const messages = fc.uint8Array({ minLength: 0, maxLength: 300 });
const RUNS = { numRuns: 150 };

describe("ed25519 on node:crypto, against noble's strict RFC 8032", () => {
  test("signatures and public keys are byte-identical to noble's, and verify", () => {
    fc.assert(
      fc.property(seeds, messages, (seed, message) => {
        const { publicKey } = keyPairFromSecret(seed);
        assert.deepEqual(publicKey, ed25519.getPublicKey(seed));
        const signature = sign(message, seed);
        assert.deepEqual(signature, ed25519.sign(message, seed));
        assert.equal(agree(signature, message, publicKey), true);
      }),
      RUNS,
    );
  });

  test("tampered messages and signatures, and a wrong key, agree (false)", () => {
    fc.assert(
      fc.property(seeds, seeds, messages, fc.nat(), fc.nat(7), (seed, other, message, at, bit) => {
        const { publicKey } = keyPairFromSecret(seed);
        const signature = sign(message, seed);
        const flipped = signature.slice();
        flipped[at % 64] = flipped[at % 64]! ^ (1 << bit);
        agree(flipped, message, publicKey);
        const longer = concat(message, new Uint8Array([at & 0xff]));
        assert.equal(agree(signature, longer, publicKey), false);
        if (message.length > 0) {
          const changed = message.slice();
          changed[at % message.length] = changed[at % message.length]! ^ (1 << bit);
          assert.equal(agree(signature, changed, publicKey), false);
        }
        if (!bytesEqual(seed, other))
          assert.equal(agree(signature, message, keyPairFromSecret(other).publicKey), false);
      }),
      RUNS,
    );
  });

  test("S + L (malleated) and S = L, S = 2^256 - 1 are refused", () => {
    fc.assert(
      fc.property(seeds, messages, (seed, message) => {
        const { publicKey } = keyPairFromSecret(seed);
        const signature = sign(message, seed);
        const s = fromLe(signature.subarray(32));
        for (const bad of [s + L, L, 2n ** 256n - 1n, s + 2n * L]) {
          if (bad >= 2n ** 256n) continue;
          assert.equal(agree(concat(signature.subarray(0, 32), toLe(bad)), message, publicKey), false);
        }
      }),
      { numRuns: 50 },
    );
  });

  test("small-order keys, canonical or not, are refused even where OpenSSL alone would accept", () => {
    const message = new TextEncoder().encode("any message");
    for (const key of [...SMALL_ORDER, ...SMALL_ORDER_NON_CANONICAL]) {
      assert.equal(isValidPublicKey(key), false, bytesToHex(key));
      assert.equal(passesKeyEncodingCheck(key), false, bytesToHex(key));
      // R = identity and S = 0: [S]B = R + [k]A holds whenever [k]A is the identity.
      for (const r of [SMALL_ORDER[0]!, key]) assert.equal(agree(concat(r, new Uint8Array(32)), message, key), false);
      assert.equal(agree(sign(message, new Uint8Array(32).fill(9)), message, key), false);
    }
    // What the explicit key check is for: OpenSSL accepts this forgery for the identity key.
    const identity = SMALL_ORDER[0]!;
    const forgery = concat(identity, new Uint8Array(32));
    const jwk = { kty: "OKP", crv: "Ed25519", x: Buffer.from(identity).toString("base64url") };
    assert.equal(opensslVerify(null, message, { key: jwk, format: "jwk" }, forgery), true);
    assert.equal(verify(forgery, message, identity), false);
  });

  test("every y >= p (non-canonical) is refused as a key", () => {
    const message = new Uint8Array([1, 2, 3]);
    const signature = sign(message, new Uint8Array(32).fill(5));
    for (const key of ALL_Y_AT_LEAST_P) {
      assert.equal(passesKeyEncodingCheck(key), false, bytesToHex(key));
      assert.equal(verifyingKey(key), "refused");
      assert.equal(agree(signature, message, key), false);
    }
  });

  test("random 32-byte keys agree, and the encoding check matches noble's key validation on the curve", () => {
    fc.assert(
      fc.property(seeds, seeds, messages, (garbage, seed, message) => {
        const signature = sign(message, seed);
        agree(signature, message, garbage);
        let decodes = true;
        try {
          Point.fromBytes(garbage, false);
        } catch {
          decodes = false;
        }
        if (isValidPublicKey(garbage)) assert.equal(passesKeyEncodingCheck(garbage), true);
        if (decodes) assert.equal(passesKeyEncodingCheck(garbage), isValidPublicKey(garbage));
      }),
      { numRuns: 300 },
    );
  });

  test("R not canonical: x = 0 with the sign bit, y + p; the canonical R verifies", () => {
    fc.assert(
      fc.property(seeds, messages, (seed, message) => {
        const { scalar, pointBytes } = ed25519.utils.getExtendedPublicKey(seed);
        // R = identity, S = k * a: [S]B = R + [k]A.
        const forms = [
          SMALL_ORDER[0]!,
          ...SMALL_ORDER_NON_CANONICAL.filter((bytes) => bytes[0] === 0x01 || bytes[0] === 0xee),
        ];
        forms.forEach((r, index) => {
          const s = mod(challenge(r, pointBytes, message) * scalar, L);
          assert.equal(agree(concat(r, toLe(s)), message, pointBytes), index === 0, bytesToHex(r));
        });
      }),
      { numRuns: 30 },
    );
  });

  test("R or A with a small-order component: the cofactored answer, where OpenSSL's cofactorless one differs", () => {
    const torsion = SMALL_ORDER.map((bytes) => Point.fromBytes(bytes));
    let opensslDisagreed = 0;
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: L - 1n }),
        fc.bigInt({ min: 1n, max: L - 1n }),
        fc.nat(7),
        fc.nat(7),
        messages,
        (a, r, tA, tR, message) => {
          const A = Point.BASE.multiply(a).add(torsion[tA]!).toBytes();
          const R = Point.BASE.multiply(r).add(torsion[tR]!).toBytes();
          const s = mod(r + challenge(R, A, message) * a, L);
          const signature = concat(R, toLe(s));
          if (isValidPublicKey(A)) {
            assert.equal(agree(signature, message, A), true);
            const jwk = { kty: "OKP", crv: "Ed25519", x: Buffer.from(A).toString("base64url") };
            if (!opensslVerify(null, message, { key: jwk, format: "jwk" }, signature)) opensslDisagreed++;
          } else assert.equal(agree(signature, message, A), false);
        },
      ),
      { numRuns: 60 },
    );
    assert.ok(opensslDisagreed > 0, "no case where OpenSSL alone would have refused");
  });

  test("malformed input is false, never a throw", () => {
    const keys = generateKeyPair();
    const message = new Uint8Array([7]);
    const signature = sign(message, keys.secretKey);
    assert.equal(verify(signature, message, keys.publicKey), true);
    assert.equal(verify(signature.subarray(0, 63), message, keys.publicKey), false);
    assert.equal(verify(concat(signature, new Uint8Array(1)), message, keys.publicKey), false);
    assert.equal(verify(signature, message, keys.publicKey.subarray(0, 31)), false);
    assert.equal(verify(signature, message, concat(keys.publicKey, new Uint8Array(1))), false);
    assert.equal(verify(new Uint8Array(64), message, keys.publicKey), false);
    const untyped = verify as (...args: unknown[]) => boolean;
    for (const args of [
      [undefined, message, keys.publicKey],
      [signature, "7", keys.publicKey],
      [signature, message, null],
      [Array.from(signature), message, keys.publicKey],
    ])
      assert.equal(untyped(...args), false);
  });

  test("signing refuses a secret key that is not 32 bytes, as noble does", () => {
    for (const length of [0, 31, 33, 64]) {
      assert.throws(() => sign(new Uint8Array(1), new Uint8Array(length)));
      assert.throws(() => keyPairFromSecret(new Uint8Array(length)));
    }
  });

  test("outputs are plain Uint8Arrays the caller owns", () => {
    const keys = generateKeyPair();
    assert.deepEqual(keys.publicKey, ed25519.getPublicKey(keys.secretKey));
    const signature = sign(new Uint8Array(3), keys.secretKey);
    for (const bytes of [keys.publicKey, signature, sha256(new Uint8Array(3))])
      assert.equal(Object.getPrototypeOf(bytes), Uint8Array.prototype);
    keyPairFromSecret(keys.secretKey).publicKey.fill(0);
    assert.deepEqual(keyPairFromSecret(keys.secretKey).publicKey, keys.publicKey);
  });
});

describe("sha256 on node:crypto", () => {
  test("FIPS 180-2 vectors, and views into larger buffers", () => {
    const text = (value: string) => new TextEncoder().encode(value);
    assert.equal(bytesToHex(sha256(text(""))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert.equal(bytesToHex(sha256(text("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert.equal(
      bytesToHex(sha256(text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    );
    assert.equal(bytesToHex(sha256(text("xxabcxx").subarray(2, 5))), bytesToHex(sha256(text("abc"))));
  });
});

describe("the small pieces", () => {
  test("S < L", () => {
    assert.equal(isReducedScalar(toLe(0n)), true);
    assert.equal(isReducedScalar(toLe(L - 1n)), true);
    assert.equal(isReducedScalar(toLe(L)), false);
    assert.equal(isReducedScalar(toLe(L + 1n)), false);
    assert.equal(isReducedScalar(toLe(2n ** 256n - 1n)), false);
    fc.assert(fc.property(seeds, (bytes) => isReducedScalar(bytes) === fromLe(bytes) < L));
  });

  test("the LRU cache keeps the most recently used entries", () => {
    const cache = new LruCache<number>(2);
    cache.set("a", 1);
    cache.set("b", 2);
    assert.equal(cache.get("a"), 1);
    cache.set("c", 3);
    assert.equal(cache.get("b"), undefined);
    assert.equal(cache.get("a"), 1);
    assert.equal(cache.get("c"), 3);
    assert.equal(cache.size, 2);
  });
});

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}
