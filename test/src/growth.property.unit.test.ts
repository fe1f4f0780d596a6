import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { DEFAULT_POLICY, LEGACY_GROWTH_RULES, validatePolicy, type Policy } from "@pot/mechanism";
import { runAttack, STRATEGIES, type Strategy } from "./support/attacks.js";

/**
 * The growth bound on the real pure deciders (matchmaker ledger, adjudicator game, identity member),
 * wired as the services wire them (test/src/support/growth-world.ts), over random attacker choices:
 * starting from 2 colluding identities, the attacker holds at most 2 + 2·52 identities after 52
 * stake periods, under every strategy. The legacy rules (a policy without growth rules) let the
 * self-play farm grow exponentially, which shows the property can fail.
 */
const PERIODS = 52;
const BOUND = 2 + 2 * PERIODS;

/** The attacker's random choices: which days it acts, the order it tries partners in, how many. */
const choices = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  activity: fc.double({ min: 0.3, max: 1, noNaN: true }),
  tries: fc.integer({ min: 1, max: 3 }),
});

function attack(strategy: Strategy, policy: Policy, choice: { seed: number; activity: number; tries: number }) {
  return runAttack({ strategy, policy, ...choice, stakePeriods: PERIODS, honestMembers: 40, stopAbove: BOUND });
}

describe("growth bound of the default policy (property, over the deciders)", () => {
  test("the default policy is valid", () => validatePolicy(DEFAULT_POLICY));

  for (const strategy of STRATEGIES) {
    test(`${strategy}: from 2 colluding identities, at most 2 + 2·52 identities after 52 stake periods`, () => {
      fc.assert(
        fc.property(choices, (choice) => {
          const result = attack(strategy, DEFAULT_POLICY, choice);
          assert.equal(result.periods, PERIODS, "the attack ran the whole horizon");
          assert.ok(
            result.attackers <= BOUND,
            `${strategy} reached ${result.attackers} identities (> ${BOUND}); refusals ${JSON.stringify([...result.refusals])}`,
          );
          // Linear all along, not merely under the bound at the end: at most 2 more per stake period,
          // after a first window's worth of credits (2 for each of the 2 identities).
          result.perPeriod.forEach((count, index) =>
            assert.ok(count <= 2 + 4 + 2 * (index + 1), `${count} identities after ${index + 1} periods`),
          );
        }),
        { numRuns: 2 },
      );
    });
  }

  test("the rules, not idleness, hold the farm back: the attacker plays, and its attempts are refused", () => {
    const result = attack("self-play-farm", DEFAULT_POLICY, { seed: 1, activity: 1, tries: 2 });
    assert.ok(result.games >= 1, "the attacker's first defection happens");
    assert.ok((result.refusals.get("controlled") ?? 0) > 0, "controlled identities tried to stake and were refused");
    assert.ok(result.attackers > 2, "credits were redeemed for controlled identities");
  });

  test("the rules hold the ring back: its newcomers are all the seeds' children, and lineage refuses them", () => {
    const result = attack("cooperating-ring", DEFAULT_POLICY, { seed: 2, activity: 1, tries: 3 });
    assert.ok(result.games >= 1);
    assert.ok((result.refusals.get("lineage") ?? 0) > 0, "the lineage rule refused the ring's pairs");
  });
});

describe("the legacy rules (no growth rules) fail the bound", () => {
  const legacy: Policy = { ...DEFAULT_POLICY, growth: LEGACY_GROWTH_RULES };

  test("self-play farm: exponential, past 2 + 2·52 identities long before 52 stake periods", () => {
    fc.assert(
      fc.property(choices, (choice) => {
        const result = attack("self-play-farm", legacy, { ...choice, activity: 1 });
        assert.ok(result.attackers > BOUND, `only ${result.attackers} identities`);
        assert.ok(result.periods < 12, `took ${result.periods} stake periods`);
      }),
      { numRuns: 2 },
    );
  });
});
