import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  DEFAULT_POLICY,
  NO_RATE_TARGET,
  validatePolicy,
  ValidationError,
  type Policy,
  type RateTarget,
} from "@pot/mechanism";
import { decidePolicy, evolvePolicy, type PolicyState } from "./policy.js";
import { signedPublish, withOperators as initialPolicyState } from "./policy.test-support.js";
import { firstRetargetInterval, intervalIndexAt, retargetStakePeriod } from "./retarget.js";

const DAY = 86_400_000;
const TARGET: RateTarget = {
  admissionsPerInterval: 100,
  intervalMs: 7 * DAY,
  maxStepPercent: 25,
  minStakePeriodMs: DAY,
  maxStakePeriodMs: 90 * DAY,
};

const targetArb = fc
  .record({
    admissionsPerInterval: fc.integer({ min: 1, max: 1_000 }),
    intervalMs: fc.integer({ min: 1_000, max: 30 * DAY }),
    maxStepPercent: fc.integer({ min: 1, max: 300 }),
    minStakePeriodMs: fc.integer({ min: 1_000, max: 10 * DAY }),
    span: fc.integer({ min: 0, max: 300 * DAY }),
  })
  .map(({ span, ...t }) => ({ ...t, maxStakePeriodMs: t.minStakePeriodMs + span }));

describe("retargetStakePeriod (pure)", () => {
  test("on target the period holds; twice the target raises it by the bounded step; none lowers it by the step", () => {
    assert.equal(retargetStakePeriod(TARGET, 7 * DAY, 100), 7 * DAY);
    assert.equal(retargetStakePeriod(TARGET, 7 * DAY, 110), Math.round(7 * DAY * 1.1));
    assert.equal(retargetStakePeriod(TARGET, 7 * DAY, 200), Math.round(7 * DAY * 1.25));
    assert.equal(retargetStakePeriod(TARGET, 7 * DAY, 0), Math.round((7 * DAY) / 1.25));
    assert.equal(retargetStakePeriod(TARGET, 80 * DAY, 1_000), 90 * DAY, "clamped to the maximum");
    assert.equal(retargetStakePeriod(TARGET, DAY, 0), DAY, "clamped to the minimum");
    assert.equal(retargetStakePeriod(NO_RATE_TARGET, 7 * DAY, 5), 7 * DAY, "off: unchanged");
  });

  test("property: within one bounded step and within [min, max], whole ms, and deterministic", () => {
    fc.assert(
      fc.property(
        targetArb,
        fc.integer({ min: 0, max: 400 * DAY }),
        fc.integer({ min: 0, max: 100_000 }),
        (t, raw, n) => {
          const current = Math.min(t.maxStakePeriodMs, Math.max(t.minStakePeriodMs, raw));
          const next = retargetStakePeriod(t, current, n);
          const factor = 1 + t.maxStepPercent / 100;
          assert.ok(Number.isSafeInteger(next));
          assert.ok(next >= t.minStakePeriodMs && next <= t.maxStakePeriodMs);
          assert.ok(next <= Math.round(current * factor) + 1 && next >= Math.round(current / factor) - 1);
          assert.equal(retargetStakePeriod(t, current, n), next);
        },
      ),
    );
  });

  test("property: more admissions never give a shorter period (monotone)", () => {
    fc.assert(
      fc.property(
        targetArb,
        fc.integer({ min: 1_000, max: 400 * DAY }),
        fc.nat(5_000),
        fc.nat(5_000),
        (t, raw, x, y) => {
          const current = Math.min(t.maxStakePeriodMs, Math.max(t.minStakePeriodMs, raw));
          const [low, high] = x <= y ? [x, y] : [y, x];
          assert.ok(retargetStakePeriod(t, current, low) <= retargetStakePeriod(t, current, high));
        },
      ),
    );
  });

  test("property: converges to the target rate when the rate is (active sponsors) / (stake period)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 20, max: 5_000 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 5, max: 100 }),
        fc.integer({ min: 1, max: 60 }),
        (sponsors, perInterval, step, startDays) => {
          // Each sponsor can admit once per stake period: per 7-day interval, sponsors × 7 d / period.
          const t: RateTarget = {
            ...TARGET,
            admissionsPerInterval: perInterval,
            maxStepPercent: step,
            minStakePeriodMs: 60_000,
            maxStakePeriodMs: 36_500 * DAY,
          };
          const rate = (period: number) => Math.round((sponsors * t.intervalMs) / period);
          // The equilibrium (sponsors × interval / target) lies within the bounds.
          fc.pre((sponsors * t.intervalMs) / perInterval <= t.maxStakePeriodMs);
          let period = startDays * DAY;
          for (let i = 0; i < 400; i++) period = retargetStakePeriod(t, period, rate(period));
          // Whole admissions: the rate settles within one admission (and 2 %) of the target.
          assert.ok(
            Math.abs(rate(period) - perInterval) <= 1 + perInterval * 0.02,
            `rate ${rate(period)} vs ${perInterval}`,
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  test("intervals are fixed slices of Unix time; retargeting starts with the first after publication", () => {
    assert.equal(intervalIndexAt(TARGET, 7 * DAY - 1), 0);
    assert.equal(intervalIndexAt(TARGET, 7 * DAY), 1);
    assert.equal(firstRetargetInterval(TARGET, 7 * DAY), 1);
    assert.equal(firstRetargetInterval(TARGET, 7 * DAY + 1), 2);
  });
});

describe("the policy aggregate retargets once per interval", () => {
  const policy: Omit<Policy, "version"> = { ...DEFAULT_POLICY, rateTarget: TARGET };
  const published = (now: number): PolicyState =>
    decidePolicy(signedPublish(policy, now, initialPolicyState), initialPolicyState).reduce(
      evolvePolicy,
      initialPolicyState,
    );
  const retarget = (state: PolicyState, interval: number, admissions: number, now: number) =>
    decidePolicy({ type: "RetargetStakePeriod", policyVersion: 1, interval, admissions, throughSeq: 9, now }, state);

  test("the event carries interval, count, old and new period; the state moves on to the next interval", () => {
    const t0 = 10 * 7 * DAY + 5;
    const state = published(t0);
    assert.equal(state.nextInterval, 11);
    assert.equal(state.stakePeriodMs, 7 * DAY);
    assert.throws(() => retarget(state, 11, 50, 12 * 7 * DAY - 1), /not yet/);
    assert.throws(() => retarget(state, 12, 50, 13 * 7 * DAY), /before interval 11/);
    const events = retarget(state, 11, 50, 12 * 7 * DAY);
    assert.deepEqual(events, [
      {
        type: "StakePeriodRetargeted",
        policyVersion: 1,
        interval: 11,
        intervalStartMs: 11 * 7 * DAY,
        intervalEndMs: 12 * 7 * DAY,
        admissions: 50,
        targetAdmissions: 100,
        oldStakePeriodMs: 7 * DAY,
        newStakePeriodMs: Math.round((7 * DAY) / 1.25),
        throughSeq: 9,
      },
    ]);
    const next = events.reduce(evolvePolicy, state);
    assert.equal(next.stakePeriodMs, Math.round((7 * DAY) / 1.25));
    assert.equal(next.nextInterval, 12);
    assert.deepEqual(retarget(next, 11, 50, 12 * 7 * DAY), [], "a retried retarget of a done interval is a no-op");
    assert.deepEqual(
      decidePolicy(
        {
          type: "RetargetStakePeriod",
          policyVersion: 0,
          interval: 12,
          admissions: 1,
          throughSeq: 9,
          now: 20 * 7 * DAY,
        },
        next,
      ),
      [],
      "a retarget under a superseded policy is a no-op",
    );
  });

  test("a new policy version starts again from its own stake period; a policy without a target never retargets", () => {
    const state = published(0);
    const retargeted = retarget(state, 0, 200, 7 * DAY).reduce(evolvePolicy, state);
    assert.notEqual(retargeted.stakePeriodMs, 7 * DAY);
    const republished = decidePolicy(signedPublish(policy, 8 * DAY, retargeted), retargeted).reduce(
      evolvePolicy,
      retargeted,
    );
    assert.equal(republished.stakePeriodMs, 7 * DAY);
    assert.equal(republished.nextInterval, 2);
    const off = decidePolicy(signedPublish(DEFAULT_POLICY, 0, initialPolicyState), initialPolicyState).reduce(
      evolvePolicy,
      initialPolicyState,
    );
    assert.deepEqual(
      decidePolicy(
        { type: "RetargetStakePeriod", policyVersion: 1, interval: 0, admissions: 3, throughSeq: 1, now: 7 * DAY },
        off,
      ),
      [],
    );
  });

  test("validation: a rate target names its bounds, contains the policy's own stake period, and the cool-down covers the longest", () => {
    assert.doesNotThrow(() => validatePolicy({ ...DEFAULT_POLICY, rateTarget: TARGET }));
    const refused = (target: Partial<RateTarget>, field: string, extra: Partial<Policy> = {}) =>
      assert.throws(
        () => validatePolicy({ ...DEFAULT_POLICY, ...extra, rateTarget: { ...TARGET, ...target } }),
        (e: unknown) => e instanceof ValidationError && e.field === field,
      );
    refused({ maxStepPercent: 0 }, "policy.rate_target.max_step_percent");
    refused({ intervalMs: 10 }, "policy.rate_target.interval_ms");
    refused({ minStakePeriodMs: 8 * DAY }, "policy.admission.stake_period_ms");
    refused({ minStakePeriodMs: 100 * DAY }, "policy.rate_target.min_stake_period_ms");
    refused({ maxStakePeriodMs: 400 * DAY }, "policy.pair_cooldown_ms");
    refused({ admissionsPerInterval: 0 }, "policy.rate_target.admissions_per_interval");
  });
});
