import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  DEFAULT_POLICY,
  isLegacyGrowth,
  LEGACY_GROWTH_RULES,
  validatePolicy,
  ValidationError,
  type GrowthRules,
  type Policy,
} from "./index.js";

function withGrowth(growth: Partial<GrowthRules>, admission: Partial<Policy["admission"]> = {}): Policy {
  return {
    ...DEFAULT_POLICY,
    admission: { ...DEFAULT_POLICY.admission, ...admission },
    growth: { ...DEFAULT_POLICY.growth, ...growth },
  };
}

function refused(policy: Policy, field: string, why: RegExp): void {
  assert.throws(
    () => validatePolicy(policy),
    (error: unknown) => error instanceof ValidationError && error.field === field && why.test(error.message),
  );
}

describe("growth rules in the policy", () => {
  test("the default policy sets every growth rule", () => {
    const growth = DEFAULT_POLICY.growth;
    assert.equal(growth.controlledStaking, "forbidden");
    assert.ok(growth.maturityPeriodMs >= DEFAULT_POLICY.admission.stakePeriodMs);
    assert.deepEqual([growth.sponsorQuota, growth.sponsorQuotaWindowMs], [1, 30 * 86_400_000]);
    assert.equal(growth.lineageDistance, 2);
    assert.ok(growth.creditCap > 0 && growth.creditCapWindowMs > 0);
    assert.ok(growth.pendingProposalCap > 0);
    assert.equal(isLegacyGrowth(growth), false);
  });

  test("a policy without growth rules (an old log's) is refused for publication, accepted for an audit", () => {
    const legacy = { ...DEFAULT_POLICY, growth: LEGACY_GROWTH_RULES };
    refused(legacy, "policy.growth.controlled_staking", /must be set/);
    assert.doesNotThrow(() => validatePolicy(legacy, { acceptLegacyGrowth: true }));
    // An audit still refuses a set-but-incompatible growth rule.
    assert.throws(
      () => validatePolicy(withGrowth({ controlledStaking: "allowed" }), { acceptLegacyGrowth: true }),
      /controlled_staking/,
    );
  });

  test("defecting on an identity you control may not yield more identities than cooperating with it", () => {
    // Controlled identities stake and no lineage rule keeps a controller from playing them.
    refused(
      withGrowth({ controlledStaking: "allowed", lineageDistance: 0 }, { defectorCredits: 2 }),
      "policy.admission.defector_credits",
      /yield 2 identities against 1 for cooperating/,
    );
  });

  test("controlled identities may not stake while admission games grant credits (the credit farm)", () => {
    refused(
      withGrowth({ controlledStaking: "allowed", lineageDistance: 0 }, { defectorCredits: 1 }),
      "policy.growth.controlled_staking",
      /credits would compound/,
    );
    refused(
      withGrowth({ controlledStaking: "allowed" }, { defectorCredits: 2 }),
      "policy.growth.controlled_staking",
      /credits would compound/,
    );
    assert.doesNotThrow(() => validatePolicy(withGrowth({ controlledStaking: "allowed" }, { defectorCredits: 0 })));
  });

  test("a maturity period shorter than the stake period is refused; 0 turns it off", () => {
    refused(
      withGrowth({ maturityPeriodMs: DEFAULT_POLICY.admission.stakePeriodMs - 1 }),
      "policy.growth.maturity_period_ms",
      /cooperating ring double/,
    );
    assert.doesNotThrow(() => validatePolicy(withGrowth({ maturityPeriodMs: 0 })));
  });

  test("quota and cap counts come with their windows", () => {
    refused(withGrowth({ sponsorQuota: 0 }), "policy.growth.sponsor_quota", /set together/);
    refused(withGrowth({ creditCapWindowMs: 0 }), "policy.growth.credit_cap_window_ms", /set together/);
    refused(
      withGrowth({ sponsorQuotaWindowMs: 1_000 }),
      "policy.growth.sponsor_quota_window_ms",
      /at least the admission stake period/,
    );
    assert.doesNotThrow(() => validatePolicy(withGrowth({ sponsorQuota: 0, sponsorQuotaWindowMs: 0 })));
  });

  test("out-of-range counts are refused, naming the field", () => {
    refused(withGrowth({ lineageDistance: 9 }), "policy.growth.lineage_distance", /0 to 8/);
    refused(withGrowth({ pendingProposalCap: 1.5 }), "policy.growth.pending_proposal_cap", /whole number/);
    refused(withGrowth({ creditCap: 1_001 }), "policy.growth.credit_cap", /0 to 1000/);
  });
});
