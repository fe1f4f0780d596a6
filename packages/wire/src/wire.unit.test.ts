import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as pb from "@pot/contracts";
import { DEFAULT_POLICY, LEGACY_GROWTH_RULES } from "@pot/mechanism";
import { policyFromWire, policyToWire } from "./index.js";

describe("policy on the wire", () => {
  test("the default policy's growth rules survive an encode/decode round trip", () => {
    const bytes = pb.Policy.encode(policyToWire(DEFAULT_POLICY)).finish();
    assert.deepEqual(policyFromWire(pb.Policy.decode(bytes)), DEFAULT_POLICY);
  });

  test("a policy published before growth rules existed decodes to the legacy rules and re-encodes unchanged", () => {
    const old = { ...policyToWire(DEFAULT_POLICY), growth: undefined };
    const decoded = policyFromWire(old);
    assert.deepEqual(decoded.growth, LEGACY_GROWTH_RULES);
    assert.deepEqual(pb.Policy.encode(policyToWire(decoded)).finish(), pb.Policy.encode(old).finish());
  });

  test("an unknown controlled_staking value is refused, naming the field", () => {
    const wire = policyToWire(DEFAULT_POLICY);
    assert.throws(
      () => policyFromWire({ ...wire, growth: { ...wire.growth!, controlledStaking: 7 as pb.ControlledStaking } }),
      /policy\.growth\.controlled_staking: unknown value 7/,
    );
  });
});
