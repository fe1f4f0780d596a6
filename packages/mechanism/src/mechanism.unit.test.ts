import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  actionDigest,
  answerPayload,
  bytesToHex,
  commitmentOf,
  commitPayload,
  consentPayload,
  DEFAULT_POLICY,
  encodeFields,
  generateKeyPair,
  isNetworkId,
  isValidPublicKey,
  keyPairFromSecret,
  networkIdOfNamespace,
  proposePayload,
  redeemPayload,
  revealPayload,
  sign,
  validatePolicy,
  ValidationError,
  verify,
} from "./index.js";

describe("canonical payloads", () => {
  test("length prefixes keep different field lists apart", () => {
    assert.notDeepEqual(encodeFields("t", "ab", "c"), encodeFields("t", "a", "bc"));
  });

  test("each field is its big-endian uint32 length, then its bytes (strings UTF-8, numbers uint32, bigints uint64)", () => {
    const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
    assert.equal(
      hex(encodeFields("t", "ab", 0x01020304, 2n ** 64n + 5n, new Uint8Array([9]), -1, "é")),
      [
        "00000001" + "74",
        "00000002" + "6162",
        "00000004" + "01020304",
        "00000008" + "0000000000000005",
        "00000001" + "09",
        "00000004" + "ffffffff",
        "00000002" + "c3a9",
      ].join(""),
    );
    // The tag's bytes are cached: the same tag encodes the same, again and again.
    assert.equal(hex(encodeFields("t")), "0000000174");
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

// Fixed test vectors of every signed payload (docs/api.md, "Signatures"): a change to any encoding
// changes these bytes, and every signature made before it stops verifying. Change them deliberately.
describe("payload test vectors", () => {
  const key = new Uint8Array(32).fill(1);
  const hash = new Uint8Array(32).fill(2);
  const nonce = new Uint8Array(32).fill(3);
  const hex = bytesToHex;
  const EXPIRES = 1_800_000_000_000; // 0x000001a3185c5000

  test("consent: tag, network, candidate key, agreement version (u32), hash, proposal, controller, expiry (u64)", () => {
    const terms = {
      candidatePublicKey: key,
      agreementVersion: 1,
      agreementHash: hash,
      proposalId: "p1",
      controllerId: "",
      expiresAtMs: EXPIRES,
    };
    assert.equal(
      hex(consentPayload("net", terms)),
      "0000000e" +
        hex(new TextEncoder().encode("pot/v1/consent")) +
        "00000003" +
        "6e6574" +
        "00000020" +
        "01".repeat(32) +
        "00000004" +
        "00000001" +
        "00000020" +
        "02".repeat(32) +
        "00000002" +
        "7031" +
        "00000000" +
        "00000008" +
        "000001a3185c5000",
    );
    // Each bound field changes the bytes: another network, context or expiry is another consent.
    const base = hex(consentPayload("net", terms));
    assert.notEqual(hex(consentPayload("neu", terms)), base);
    assert.notEqual(hex(consentPayload("net", { ...terms, proposalId: "p2" })), base);
    assert.notEqual(hex(consentPayload("net", { ...terms, proposalId: "", controllerId: "p1" })), base);
    assert.notEqual(hex(consentPayload("net", { ...terms, expiresAtMs: EXPIRES + 1 })), base);
  });

  test("accept: the 34 bytes docs/api.md spells out", () => {
    assert.equal(
      hex(answerPayload("pot", "accept", "p", "m")),
      "0000000d706f742f76312f616363657074" + "00000003706f74" + "0000000170" + "000000016d",
    );
    assert.equal(answerPayload("pot", "accept", "p", "m").length, 34);
  });

  test("propose, commit, reveal and redeem put the network id first after the tag", () => {
    assert.equal(
      hex(proposePayload("net", "p1", "a", "b", new Uint8Array(32).fill(5))),
      "0000000e706f742f76312f70726f706f7365000000036e657400000002703100000001610000000162" +
        "00000020" +
        "05".repeat(32),
    );
    assert.equal(
      hex(commitPayload("net", "g", "m", new Uint8Array(32).fill(6))),
      "0000000d706f742f76312f636f6d6d6974000000036e65740000000167000000016d" + "00000020" + "06".repeat(32),
    );
    assert.equal(
      hex(revealPayload("net", "g", "m", "defect", nonce)),
      "0000000d706f742f76312f72657665616c000000036e65740000000167000000016d00000006646566656374" +
        "00000020" +
        "03".repeat(32),
    );
    assert.equal(
      hex(redeemPayload("net", "m", key, "r")),
      "0000000d706f742f76312f72656465656d000000036e6574000000016d" + "00000020" + "01".repeat(32) + "0000000172",
    );
  });

  test("action digests and the commitment are SHA-256 over the same encoding", () => {
    const admission = {
      type: "admission" as const,
      candidatePublicKey: key,
      agreementVersion: 1,
      agreementHash: hash,
      consentProposalId: "p1",
      consentControllerId: "",
      consentExpiresAtMs: EXPIRES,
      consentSignature: new Uint8Array(64).fill(4),
    };
    assert.equal(hex(actionDigest(admission)), "351cd1ddc02d9bd741e1548e4685d64717310a68ff37eab34e06f62f4ffca59e");
    assert.equal(
      hex(actionDigest({ type: "generic", kind: "post.create", payload: new Uint8Array([1, 2]) })),
      "342bb6e8f7cfa24065e566423e484c752aed38cedb4436052cf4476b6eb426ab",
    );
    assert.equal(
      hex(commitmentOf("g", "m", "defect", nonce)),
      "ec5b40be5f8073c485d1b1becad51b03fcbc3a4bc673cb2809c597e5e063949e",
    );
  });

  test("a deterministic Ed25519 signature over a payload, from a fixed secret key", () => {
    const keys = keyPairFromSecret(new Uint8Array(32).fill(9));
    assert.equal(hex(keys.publicKey), "fd1724385aa0c75b64fb78cd602fa1d991fdebf76b13c58ed702eac835e9f618");
    const signature = sign(answerPayload("pot", "accept", "p", "m"), keys.secretKey);
    assert.equal(
      hex(signature),
      "4f6744def4e69f9b735cb24f4cb5607ed3f4d6f6d63dc7a0a84f482cc7c177d6574ddf2cdff268fe4913d1c17d50fe353f2405f1a8471df2090eedc994d38f0c",
    );
    assert.equal(verify(signature, answerPayload("pot", "accept", "p", "m"), keys.publicKey), true);
    assert.equal(verify(signature, answerPayload("pot-2", "accept", "p", "m"), keys.publicKey), false);
  });

  test("network ids: the namespace default, and what a network id may be", () => {
    assert.equal(networkIdOfNamespace("pot"), "pot");
    assert.equal(networkIdOfNamespace("t1a2_e"), "t1a2-e");
    assert.equal(isNetworkId("pot-test"), true);
    assert.equal(isNetworkId(""), false);
    assert.equal(isNetworkId("Pot"), false);
    assert.equal(isNetworkId("a".repeat(65)), false);
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
