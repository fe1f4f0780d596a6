import { DEFAULT_POLICY, LEGACY_GROWTH_RULES, type Policy } from "@pot/mechanism";

const DAY = 86_400_000;

export interface RateTargetScenario {
  /** Target sponsored admissions per interval. */
  readonly admissionsPerInterval: number;
  readonly intervalMs: number;
  readonly maxStepPercent: number;
  /** The policy's own stake period, where retargeting starts; the sponsor-quota window and maturity follow it. */
  readonly stakePeriodMs: number;
  /** The longest retargeted stake period (and the pair cool-down, which must cover it). */
  readonly maxStakePeriodMs: number;
}

/**
 * DEFAULT_POLICY with a rate target. The stake period is the only lever a rate target has, so the
 * sponsor-quota window and the maturity period are set to the policy's own stake period (validation
 * wants them at least that long), and the pair cool-down to the longest stake period.
 */
export function withRateTarget(policy: Omit<Policy, "version">, scenario: RateTargetScenario): Omit<Policy, "version"> {
  return {
    ...policy,
    admission: { ...policy.admission, stakePeriodMs: scenario.stakePeriodMs },
    growth: {
      ...policy.growth,
      maturityPeriodMs: Math.max(policy.growth.maturityPeriodMs, scenario.stakePeriodMs),
      sponsorQuotaWindowMs: scenario.stakePeriodMs,
    },
    pairCooldownMs: Math.max(policy.pairCooldownMs, scenario.maxStakePeriodMs),
    rateTarget: {
      admissionsPerInterval: scenario.admissionsPerInterval,
      intervalMs: scenario.intervalMs,
      maxStepPercent: scenario.maxStepPercent,
      minStakePeriodMs: DAY,
      maxStakePeriodMs: scenario.maxStakePeriodMs,
    },
  };
}

/** The policies `pot simulate --policy` knows, by name. */
export interface NamedPolicy {
  readonly name: string;
  readonly description: string;
  readonly policy: Omit<Policy, "version">;
  /** Taken as an event already in the log: today's validation would refuse to publish it. */
  readonly fromLog: boolean;
}

const { version: _version, ...defaults } = DEFAULT_POLICY;

export const POLICIES: Readonly<Record<string, NamedPolicy>> = {
  default: {
    name: "default",
    description: "DEFAULT_POLICY, what a new network publishes as version 1",
    policy: defaults,
    fromLog: false,
  },
  legacy: {
    name: "legacy",
    description:
      "the default payoff table and periods without growth rules (LEGACY_GROWTH_RULES), as networks ran before them: newcomers and controlled identities stake at once",
    policy: { ...defaults, growth: LEGACY_GROWTH_RULES },
    fromLog: true,
  },
};
