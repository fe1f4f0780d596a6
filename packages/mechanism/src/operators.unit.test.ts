import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  bytesToHex,
  generateKeyPair,
  genesisMembersDigest,
  keyPairFromSecret,
  operatorAgreementPayload,
  operatorBootstrapPayload,
  operatorExcludePayload,
  operatorPolicyPayload,
  operatorQuorumProblem,
  operatorRotatePayload,
  PermissionError,
  recordedActProblem,
  requireOperatorQuorum,
  sign,
  validateOperatorKeys,
  validateOperatorSignatures,
  ValidationError,
  type OperatorKeys,
  type OperatorSignature,
} from "./index.js";

const keys = [1, 2, 3].map((seed) => keyPairFromSecret(new Uint8Array(32).fill(seed)));
const operators: OperatorKeys = { version: 1, keys: keys.map((k) => k.publicKey), threshold: 2 };
const payload = operatorExcludePayload("net", "r1", "m".repeat(64), "spam");
const signed = (which: readonly number[], message = payload): OperatorSignature[] =>
  which.map((index) => ({ publicKey: keys[index]!.publicKey, signature: sign(message, keys[index]!.secretKey) }));

describe("operator quorum", () => {
  test("M distinct valid signatures of current keys are a quorum, in any order", () => {
    assert.equal(operatorQuorumProblem(operators, "exclude", payload, signed([0, 1])), undefined);
    assert.equal(operatorQuorumProblem(operators, "exclude", payload, signed([2, 0])), undefined);
    assert.equal(operatorQuorumProblem(operators, "exclude", payload, signed([0, 1, 2])), undefined);
    requireOperatorQuorum(operators, "exclude", payload, signed([1, 2]));
  });

  test("no signature, too few, a duplicate key, an outsider or a bad signature are refused with a reason", () => {
    assert.match(
      operatorQuorumProblem(operators, "exclude", payload, [])!,
      /carries no operator signature.*2 of the 3/,
    );
    assert.match(
      operatorQuorumProblem(operators, "exclude", payload, signed([0]))!,
      /signed by 1 operator key\(s\); it needs 2 of the 3/,
    );
    assert.match(
      operatorQuorumProblem(operators, "exclude", payload, signed([0, 0]))!,
      /signs twice; each operator key counts once/,
    );
    const outsider = generateKeyPair();
    const withOutsider = [
      ...signed([0]),
      { publicKey: outsider.publicKey, signature: sign(payload, outsider.secretKey) },
    ];
    assert.match(
      operatorQuorumProblem(operators, "exclude", payload, withOutsider)!,
      /is not a current operator key \(version 1\)/,
    );
    const other = operatorExcludePayload("other-net", "r1", "m".repeat(64), "spam");
    assert.match(
      operatorQuorumProblem(operators, "exclude", payload, [...signed([0]), ...signed([1], other)])!,
      /^operator_signatures\[1\]: the signature by operator key .* does not verify over this exclude payload/,
    );
    // A valid quorum does not excuse one bad signature beside it.
    assert.notEqual(
      operatorQuorumProblem(operators, "exclude", payload, [...signed([0, 1]), ...signed([2], other)]),
      undefined,
    );
    assert.throws(() => requireOperatorQuorum(operators, "exclude", payload, signed([0])), PermissionError);
    assert.throws(
      () => requireOperatorQuorum(undefined, "exclude", payload, signed([0, 1])),
      /no operator keys are known/,
    );
  });

  test("a threshold of 1 of 1, and of N of N", () => {
    const one: OperatorKeys = { version: 3, keys: [keys[0]!.publicKey], threshold: 1 };
    assert.equal(operatorQuorumProblem(one, "exclude", payload, signed([0])), undefined);
    assert.match(
      operatorQuorumProblem(one, "exclude", payload, signed([1]))!,
      /not a current operator key \(version 3\)/,
    );
    const all: OperatorKeys = { ...operators, threshold: 3 };
    assert.notEqual(operatorQuorumProblem(all, "exclude", payload, signed([0, 1])), undefined);
    assert.equal(operatorQuorumProblem(all, "exclude", payload, signed([0, 1, 2])), undefined);
  });
});

describe("operator keys and signatures: validation", () => {
  const valid = keys.map((k) => k.publicKey);
  test("1-16 distinct valid keys and 1 <= M <= N", () => {
    validateOperatorKeys(valid, 1);
    validateOperatorKeys(valid, 3);
    const cases: [Uint8Array[], number, RegExp][] = [
      [[], 1, /^operator_keys: name at least one operator key/],
      [Array.from({ length: 17 }, () => generateKeyPair().publicKey), 1, /^operator_keys: at most 16/],
      [[valid[0]!, new Uint8Array(31)], 1, /^operator_keys\[1\]: is not a valid 32-byte Ed25519 public key/],
      [[valid[0]!, new Uint8Array(32)], 1, /^operator_keys\[1\]: is not a valid/],
      [[valid[0]!, valid[0]!], 1, /^operator_keys\[1\]: duplicates operator key/],
      [valid, 0, /^operator_threshold: must be at least 1/],
      [valid, 4, /^operator_threshold: is 4, more than the 3 operator key\(s\) named/],
    ];
    for (const [list, threshold, message] of cases) {
      assert.throws(
        () => validateOperatorKeys(list, threshold),
        (error: unknown) => {
          assert.ok(error instanceof ValidationError);
          assert.match(error.message, message);
          return true;
        },
      );
    }
  });

  test("signatures of the wrong shape are INVALID_ARGUMENT", () => {
    validateOperatorSignatures(signed([0, 1]));
    assert.throws(
      () => validateOperatorSignatures([{ publicKey: new Uint8Array(31), signature: new Uint8Array(64) }]),
      /^ValidationError: operator_signatures\[0\]\.public_key: must be 32 bytes|operator_signatures\[0\]\.public_key: must be 32 bytes/,
    );
    assert.throws(
      () => validateOperatorSignatures([{ publicKey: new Uint8Array(32), signature: new Uint8Array(63) }]),
      /operator_signatures\[0\]\.signature: must be 64 bytes/,
    );
    assert.throws(() => validateOperatorSignatures(Array.from({ length: 17 }, () => signed([0])[0]!)), /at most 16/);
  });
});

// Fixed vectors (docs/api.md, "Operator signatures"): changing an encoding changes these bytes.
describe("operator payload test vectors", () => {
  const hex = bytesToHex;
  const text = (s: string) => hex(new TextEncoder().encode(s));
  const u32 = (n: number) => n.toString(16).padStart(8, "0");
  const part = (h: string) => u32(h.length / 2) + h;
  const key = new Uint8Array(32).fill(1);
  const hash = new Uint8Array(32).fill(2);

  test("exclude: tag, network, request id, member id, reason", () => {
    assert.equal(
      hex(operatorExcludePayload("net", "r", "m", "why")),
      part(text("pot/v1/operator/exclude")) + part(text("net")) + part(text("r")) + part(text("m")) + part(text("why")),
    );
  });

  test("policy and agreement: tag, network, request id, version (u32), digest or hash and uri", () => {
    assert.equal(
      hex(operatorPolicyPayload("net", "r", 2, hash)),
      part(text("pot/v1/operator/policy")) + part(text("net")) + part(text("r")) + part(u32(2)) + part(hex(hash)),
    );
    assert.equal(
      hex(operatorAgreementPayload("net", "r", 3, hash, "u:x")),
      part(text("pot/v1/operator/agreement")) +
        part(text("net")) +
        part(text("r")) +
        part(u32(3)) +
        part(hex(hash)) +
        part(text("u:x")),
    );
  });

  test("rotate: tag, network, request id, current version, threshold, key count, keys", () => {
    assert.equal(
      hex(operatorRotatePayload("net", "r", 1, [key], 1)),
      part(text("pot/v1/operator/rotate")) +
        part(text("net")) +
        part(text("r")) +
        part(u32(1)) +
        part(u32(1)) +
        part(u32(1)) +
        part(hex(key)),
    );
  });

  test("bootstrap: tag, network, request id, bootstraps before, force, members digest, agreement, threshold, keys", () => {
    const members = [{ publicKey: key, displayName: "a" }];
    const digest = genesisMembersDigest(members);
    assert.equal(digest.length, 32);
    assert.notDeepEqual(digest, genesisMembersDigest([{ publicKey: key, displayName: "b" }]));
    assert.equal(
      hex(
        operatorBootstrapPayload("net", {
          requestId: "r",
          bootstrapsBefore: 0,
          force: false,
          members,
          agreement: { hash, uri: "u:x" },
          operatorKeys: [key],
          operatorThreshold: 1,
        }),
      ),
      part(text("pot/v1/operator/bootstrap")) +
        part(text("net")) +
        part(text("r")) +
        part(u32(0)) +
        part(u32(0)) +
        part(hex(digest)) +
        part(hex(hash)) +
        part(text("u:x")) +
        part(u32(1)) +
        part(u32(1)) +
        part(hex(key)),
    );
  });
});

describe("recorded operator acts", () => {
  test("checked against the key set they name; an unknown set is retried, not refused", () => {
    const sets = [operators];
    assert.equal(
      recordedActProblem(sets, { signatures: signed([0, 1]), keysVersion: 1 }, "exclude", payload),
      undefined,
    );
    assert.equal(
      recordedActProblem(sets, { signatures: signed([0, 1]), keysVersion: 2 }, "exclude", payload),
      "unknown-keys",
    );
    assert.match(recordedActProblem(sets, undefined, "exclude", payload)!, /carries no operator signature/);
    assert.match(recordedActProblem(sets, { signatures: signed([0]), keysVersion: 1 }, "exclude", payload)!, /needs 2/);
    assert.match(
      recordedActProblem(sets, { signatures: signed([0, 1]), keysVersion: 0 }, "exclude", payload)!,
      /names operator key set 0/,
    );
  });
});
