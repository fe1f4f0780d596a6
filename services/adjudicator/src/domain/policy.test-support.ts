// Operator keys and signed PublishPolicy commands for the adjudicator's unit tests.
import {
  generateKeyPair,
  operatorPolicyPayload,
  sign,
  type KeyPair,
  type OperatorKeys,
  type Policy,
} from "@pot/mechanism";
import { initialPolicyState, type PolicyCommand, type PolicyState } from "./policy.js";

const NET = "net-a";
const DIGEST = new Uint8Array(32).fill(9);
export const TEST_OPERATORS = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
const operators: OperatorKeys = { version: 1, keys: TEST_OPERATORS.map((k) => k.publicKey), threshold: 2 };

/** The policy aggregate with operator keys adopted (2 of the 3 TEST_OPERATORS). */
export const withOperators: PolicyState = { ...initialPolicyState, operators };

/** A PublishPolicy signed by the first two TEST_OPERATORS, for the version it becomes on `state`. */
export function signedPublish(
  policy: Omit<Policy, "version">,
  now: number,
  state: PolicyState,
  options: { signers?: readonly KeyPair[]; requestId?: string; version?: number; network?: string } = {},
): PolicyCommand {
  const requestId = options.requestId ?? "req-1";
  const version = options.version ?? state.versions.length + 1;
  const payload = operatorPolicyPayload(options.network ?? NET, requestId, version, DIGEST);
  return {
    type: "PublishPolicy",
    policy,
    now,
    networkId: NET,
    requestId,
    digest: DIGEST,
    signatures: (options.signers ?? TEST_OPERATORS.slice(0, 2)).map((k) => ({
      publicKey: k.publicKey,
      signature: sign(payload, k.secretKey),
    })),
  };
}
