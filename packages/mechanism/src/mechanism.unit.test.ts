import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  commitmentOf,
  DEFAULT_POLICY,
  encodeFields,
  generateKeyPair,
  isValidPublicKey,
  sign,
  validatePolicy,
  ValidationError,
  verify,
} from "./index.js";

describe("canonical payloads", () => {
  test("length prefixes keep different field lists apart", () => {
    assert.notDeepEqual(encodeFields("t", "ab", "c"), encodeFields("t", "a", "bc"));
  });

  test("a commitment binds game, member, move and nonce", () => {
    const nonce = new Uint8Array(32).fill(1);
    const base = commitmentOf("g", "m", "cooperate", nonce);
    assert.equal(base.length, 32);
    assert.notDeepEqual(base, commitmentOf("g", "m", "defect", nonce));
    assert.notDeepEqual(base, commitmentOf("h", "m", "cooperate", nonce));
    assert.notDeepEqual(base, commitmentOf("g", "n", "cooperate", nonce));
    assert.notDeepEqual(base, commitmentOf("g", "m", "cooperate", new Uint8Array(32)));
  });
});

describe("signatures", () => {
  test("verify accepts the signer's key and nothing else", () => {
    const alice = generateKeyPair();
    const bob = generateKeyPair();
    const message = new TextEncoder().encode("hello");
    const signature = sign(message, alice.secretKey);
    assert.equal(verify(signature, message, alice.publicKey), true);
    assert.equal(verify(signature, message, bob.publicKey), false);
    assert.equal(verify(signature.slice(0, 63), message, alice.publicKey), false);
  });

  test("small-order public keys are not member keys", () => {
    assert.equal(isValidPublicKey(new Uint8Array(32)), false);
    const identity = new Uint8Array(32);
    identity[0] = 1;
    assert.equal(isValidPublicKey(identity), false);
    assert.equal(isValidPublicKey(generateKeyPair().publicKey), true);
  });
});

describe("policy validation", () => {
  test("the default policy is valid", () => {
    assert.doesNotThrow(() => validatePolicy(DEFAULT_POLICY));
  });

  test("a no-show penalty milder than the both-defect penalty is refused, saying why", () => {
    const policy = { ...DEFAULT_POLICY, admission: { ...DEFAULT_POLICY.admission, noShowPenaltyMs: 1_000 } };
    assert.throws(
      () => validatePolicy(policy),
      (error: unknown) =>
        error instanceof ValidationError &&
        error.field === "policy.admission.no_show_penalty_ms" &&
        /would simply not reveal/.test(error.message),
    );
  });

  test("a pair cool-down shorter than the stake period is refused", () => {
    assert.throws(() => validatePolicy({ ...DEFAULT_POLICY, pairCooldownMs: 1 }), /mint members in a loop/);
  });
});
