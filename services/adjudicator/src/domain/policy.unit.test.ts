import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  DEFAULT_POLICY,
  generateKeyPair,
  operatorBootstrapPayload,
  operatorRotatePayload,
  PermissionError,
  sign,
  type BootstrapAct,
  type KeyPair,
} from "@pot/mechanism";
import { decidePolicy, evolvePolicy, initialPolicyState, type PolicyCommand, type PolicyState } from "./policy.js";
import { signedPublish, TEST_OPERATORS, withOperators } from "./policy.test-support.js";

const NET = "net-a";

describe("PublishPolicy needs a quorum of operator keys", () => {
  test("two of three sign: published, with the act recorded", () => {
    const [event] = decidePolicy(signedPublish(DEFAULT_POLICY, 5, withOperators), withOperators);
    assert.ok(event?.type === "PolicyPublished");
    assert.equal(event.policy.version, 1);
    assert.deepEqual(event.act?.keysVersion, 1);
    assert.equal(event.act?.requestId, "req-1");
  });

  test("one signature, an outsider, a signature for another version or network, or no keys: PERMISSION_DENIED", () => {
    const refused = (command: PolicyCommand, state: PolicyState, message: RegExp) =>
      assert.throws(
        () => decidePolicy(command, state),
        (e: unknown) => e instanceof PermissionError && message.test(e.message),
      );
    refused(
      signedPublish(DEFAULT_POLICY, 5, withOperators, { signers: TEST_OPERATORS.slice(0, 1) }),
      withOperators,
      /needs 2 of the 3/,
    );
    refused(
      signedPublish(DEFAULT_POLICY, 5, withOperators, { signers: [TEST_OPERATORS[0]!, generateKeyPair()] }),
      withOperators,
      /not a current operator key/,
    );
    refused(signedPublish(DEFAULT_POLICY, 5, withOperators, { version: 2 }), withOperators, /does not verify/);
    refused(signedPublish(DEFAULT_POLICY, 5, withOperators, { network: "net-b" }), withOperators, /does not verify/);
    refused(signedPublish(DEFAULT_POLICY, 5, withOperators), initialPolicyState, /no operator keys are known/);
    // Replayed: the same signed act once the policy it made is current names a version that has passed.
    const once = decidePolicy(signedPublish(DEFAULT_POLICY, 5, withOperators), withOperators).reduce(
      evolvePolicy,
      withOperators,
    );
    refused(signedPublish(DEFAULT_POLICY, 5, withOperators), once, /does not verify/);
  });
});

describe("operator keys are adopted from identity's events, re-checked", () => {
  const [a, b] = [generateKeyPair(), generateKeyPair()];
  const genesisAct: BootstrapAct = {
    requestId: "boot",
    bootstrapsBefore: 0,
    force: false,
    members: [{ publicKey: generateKeyPair().publicKey, displayName: "" }],
    agreement: { hash: new Uint8Array(32), uri: "https://x/a" },
    operatorKeys: [a.publicKey],
    operatorThreshold: 1,
  };
  const genesis = (signer = a): PolicyCommand => ({
    type: "AdoptOperatorKeys",
    networkId: NET,
    sourceEventId: "e1",
    source: {
      type: "genesis",
      act: genesisAct,
      operators: { version: 1, keys: [a.publicKey], threshold: 1 },
      signatures: [
        { publicKey: signer.publicKey, signature: sign(operatorBootstrapPayload(NET, genesisAct), signer.secretKey) },
      ],
    },
  });
  const rotation = (signer: KeyPair): PolicyCommand => ({
    type: "AdoptOperatorKeys",
    networkId: NET,
    sourceEventId: "e2",
    source: {
      type: "rotation",
      requestId: "rot",
      operators: { version: 2, keys: [b.publicKey], threshold: 1 },
      signatures: [
        {
          publicKey: signer.publicKey,
          signature: sign(operatorRotatePayload(NET, "rot", 1, [b.publicKey], 1), signer.secretKey),
        },
      ],
    },
  });

  test("a genesis signed by its keys, then a rotation signed by them; redeliveries change nothing", () => {
    const adopted = decidePolicy(genesis(), initialPolicyState).reduce(evolvePolicy, initialPolicyState);
    assert.equal(adopted.operators?.version, 1);
    assert.deepEqual(decidePolicy(genesis(), adopted), []);
    const rotated = decidePolicy(rotation(a), adopted).reduce(evolvePolicy, adopted);
    assert.deepEqual(rotated.operators?.keys, [b.publicKey]);
    assert.deepEqual(decidePolicy(rotation(a), rotated), []);
  });

  test("a forged genesis or a rotation not signed by the current keys is refused", () => {
    assert.throws(() => decidePolicy(genesis(b), initialPolicyState), /refused: .*not a current operator key/);
    const adopted = decidePolicy(genesis(), initialPolicyState).reduce(evolvePolicy, initialPolicyState);
    assert.throws(() => decidePolicy(rotation(b), adopted), PermissionError);
    assert.throws(() => decidePolicy(rotation(a), initialPolicyState), /rotation|follows version 0/);
  });
});
