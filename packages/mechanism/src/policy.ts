import { ValidationError } from "./errors.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export interface GameRules {
  readonly stakePeriodMs: number;
  readonly penaltyPeriodMs: number;
  readonly commitWindowMs: number;
  readonly revealWindowMs: number;
  readonly defectorCredits: number;
  readonly suspendBetrayed: boolean;
  readonly suspendBothDefectors: boolean;
  readonly noShowPenaltyMs: number;
}

/**
 * What a controlled (credit-redeemed) identity may do with staking. "legacy" is the zero value of
 * policies published before growth rules existed (controlled identities stake like anyone): old logs
 * replay with it, and validatePolicy refuses to publish it.
 */
export type ControlledStaking = "legacy" | "forbidden" | "allowed";

/**
 * Limits that bound how fast colluding identities can grow (see docs/growth.md). A count or period at
 * 0 turns its rule off; LEGACY_GROWTH_RULES (all off) is what an old policy without them decodes to.
 */
export interface GrowthRules {
  readonly controlledStaking: ControlledStaking;
  /** A newcomer (not genesis) cannot stake until this long after its admission. */
  readonly maturityPeriodMs: number;
  /** At most this many games opened as a sponsor within any sponsorQuotaWindowMs. */
  readonly sponsorQuota: number;
  readonly sponsorQuotaWindowMs: number;
  /** Co-sponsors related within this many lineage steps are refused (and same-controller ones). */
  readonly lineageDistance: number;
  /** At most this many admission credits granted to a member within any creditCapWindowMs. */
  readonly creditCap: number;
  readonly creditCapWindowMs: number;
  /** At most this many proposals made by one member waiting for an answer. */
  readonly pendingProposalCap: number;
}

/**
 * A target admission rate: the admission stake period is retargeted at the end of every interval, like a
 * difficulty adjustment with a bounded step, from the admissions the interval saw (the adjudicator's
 * StakePeriodRetargeted events; see retargetStakePeriod in @pot/adjudicator). admissionsPerInterval 0
 * turns it off (NO_RATE_TARGET, what a policy published before rate targets existed decodes to).
 */
export interface RateTarget {
  /** Target sponsored admissions (games over an admission both sponsors cooperated in) per interval. */
  readonly admissionsPerInterval: number;
  /** Intervals are [k·intervalMs, (k+1)·intervalMs) of Unix time. */
  readonly intervalMs: number;
  /** The largest change per interval: the new period is within old ÷ (1 + p/100) and old × (1 + p/100). */
  readonly maxStepPercent: number;
  readonly minStakePeriodMs: number;
  readonly maxStakePeriodMs: number;
}

export const NO_RATE_TARGET: RateTarget = {
  admissionsPerInterval: 0,
  intervalMs: 0,
  maxStepPercent: 0,
  minStakePeriodMs: 0,
  maxStakePeriodMs: 0,
};

export interface Policy {
  readonly version: number;
  readonly admission: GameRules;
  readonly actionKinds: readonly { readonly kind: string; readonly rules: GameRules }[];
  readonly pairCooldownMs: number;
  readonly proposalTtlMs: number;
  readonly creditTtlMs: number;
  readonly exclusionSponsorPenaltyMs: number;
  readonly growth: GrowthRules;
  /** Off (NO_RATE_TARGET) unless the operator sets a target admission rate. */
  readonly rateTarget: RateTarget;
}

/** Every growth rule off: how a policy published before growth rules existed decides. */
export const LEGACY_GROWTH_RULES: GrowthRules = {
  controlledStaking: "legacy",
  maturityPeriodMs: 0,
  sponsorQuota: 0,
  sponsorQuotaWindowMs: 0,
  lineageDistance: 0,
  creditCap: 0,
  creditCapWindowMs: 0,
  pendingProposalCap: 0,
};

/**
 * The seed's payoff table with periods an operator can start from, and growth rules that keep any
 * group of colluding identities to linear growth (docs/growth.md); published as version 1.
 */
export const DEFAULT_POLICY: Policy = {
  version: 1,
  admission: {
    stakePeriodMs: 7 * DAY,
    penaltyPeriodMs: 30 * DAY,
    commitWindowMs: DAY,
    revealWindowMs: DAY,
    defectorCredits: 2,
    suspendBetrayed: true,
    suspendBothDefectors: true,
    noShowPenaltyMs: 60 * DAY,
  },
  actionKinds: [],
  pairCooldownMs: 180 * DAY,
  proposalTtlMs: 3 * DAY,
  creditTtlMs: 365 * DAY,
  exclusionSponsorPenaltyMs: 90 * DAY,
  growth: {
    // An identity minted by a credit never adds staking capacity, so credits cannot compound.
    controlledStaking: "forbidden",
    // Two stake periods: a newcomer cannot sponsor in the week it is admitted, nor the next.
    maturityPeriodMs: 14 * DAY,
    // One game opened as a sponsor per month (a peer admits about one member a month).
    sponsorQuota: 1,
    sponsorQuotaWindowMs: 30 * DAY,
    // Parent and child, siblings, grandparent and grandchild may not sponsor together.
    lineageDistance: 2,
    // One betrayal's worth of credits per month.
    creditCap: 2,
    creditCapWindowMs: 30 * DAY,
    pendingProposalCap: 3,
  },
  // The stake period stays what the operator set; a policy opts in to rate targeting.
  rateTarget: NO_RATE_TARGET,
};

export const ACTION_KIND_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const MAX_PERIOD_MS = 100 * 365 * DAY;
export const MAX_LINEAGE_DISTANCE = 8;
const MAX_COUNT = 1_000;

/** The rules that govern a game over the given action kind ("admission" or a generic kind). */
export function rulesFor(policy: Policy, kind: string): GameRules | undefined {
  if (kind === "admission") return policy.admission;
  return policy.actionKinds.find((entry) => entry.kind === kind)?.rules;
}

/**
 * Refuses settings that are malformed or incentive-incompatible, with a sentence saying why.
 * Throws ValidationError naming the field.
 */
export interface ValidateOptions {
  /**
   * Accept a policy whose growth rules are all off (LEGACY_GROWTH_RULES), as every policy published
   * before growth rules existed is: for auditing an old log, never for a new publication.
   */
  readonly acceptLegacyGrowth?: boolean;
}

export function validatePolicy(policy: Policy, options: ValidateOptions = {}): void {
  validateRules("policy.admission", policy.admission);
  const kinds = new Set<string>();
  policy.actionKinds.forEach((entry, index) => {
    const field = `policy.action_kinds[${index}]`;
    if (!ACTION_KIND_PATTERN.test(entry.kind)) {
      throw new ValidationError(`${field}.kind`, "must be 1-64 characters of a-z, 0-9, '.', '_' or '-'");
    }
    if (entry.kind === "admission") {
      throw new ValidationError(`${field}.kind`, "'admission' is reserved for member admission games");
    }
    if (kinds.has(entry.kind)) throw new ValidationError(`${field}.kind`, `'${entry.kind}' is listed twice`);
    kinds.add(entry.kind);
    validateRules(`${field}.rules`, entry.rules);
    if (entry.rules.defectorCredits !== 0) {
      throw new ValidationError(
        `${field}.rules.defector_credits`,
        "must be 0: credits are admission credits, and a generic action game has no candidate to credit",
      );
    }
  });
  period("policy.pair_cooldown_ms", policy.pairCooldownMs);
  period("policy.proposal_ttl_ms", policy.proposalTtlMs, 1);
  period("policy.credit_ttl_ms", policy.creditTtlMs, 1);
  period("policy.exclusion_sponsor_penalty_ms", policy.exclusionSponsorPenaltyMs);
  if (policy.pairCooldownMs < policy.admission.stakePeriodMs) {
    throw new ValidationError(
      "policy.pair_cooldown_ms",
      "must be at least the admission stake period, or two friends could mint members in a loop",
    );
  }
  validateRateTarget(policy);
  if (options.acceptLegacyGrowth && isLegacyGrowth(policy.growth)) return;
  validateGrowth(policy);
}

export const MAX_STEP_PERCENT = 300;
const MIN_RETARGET_INTERVAL_MS = 1_000;
const MIN_RETARGETED_STAKE_MS = 1_000;

/**
 * A rate target retargets the admission stake period within [min, max]: the policy's own stake period
 * (where retargeting starts) lies in it, and the pair cool-down covers the longest stake period, as it
 * must cover the stake period (two friends could otherwise mint members in a loop).
 */
function validateRateTarget(policy: Policy): void {
  const target = policy.rateTarget;
  const at = "policy.rate_target";
  if (target.admissionsPerInterval === 0) {
    const stray = (Object.keys(NO_RATE_TARGET) as (keyof RateTarget)[]).find((key) => target[key] !== 0);
    if (stray) {
      throw new ValidationError(
        `${at}.admissions_per_interval`,
        "is 0 (rate targeting off) while other rate_target fields are set: set a target, or clear them",
      );
    }
    return;
  }
  count(`${at}.admissions_per_interval`, target.admissionsPerInterval);
  period(`${at}.interval_ms`, target.intervalMs, MIN_RETARGET_INTERVAL_MS);
  if (
    !Number.isInteger(target.maxStepPercent) ||
    target.maxStepPercent < 1 ||
    target.maxStepPercent > MAX_STEP_PERCENT
  ) {
    throw new ValidationError(`${at}.max_step_percent`, `must be a whole number from 1 to ${MAX_STEP_PERCENT}`);
  }
  period(`${at}.min_stake_period_ms`, target.minStakePeriodMs, MIN_RETARGETED_STAKE_MS);
  period(`${at}.max_stake_period_ms`, target.maxStakePeriodMs, MIN_RETARGETED_STAKE_MS);
  if (target.minStakePeriodMs > target.maxStakePeriodMs) {
    throw new ValidationError(`${at}.min_stake_period_ms`, "must not exceed max_stake_period_ms");
  }
  const stake = policy.admission.stakePeriodMs;
  if (stake < target.minStakePeriodMs || stake > target.maxStakePeriodMs) {
    throw new ValidationError(
      "policy.admission.stake_period_ms",
      `must lie within rate_target's [min_stake_period_ms, max_stake_period_ms] (${target.minStakePeriodMs}-${target.maxStakePeriodMs} ms): retargeting starts from it`,
    );
  }
  if (policy.pairCooldownMs < target.maxStakePeriodMs) {
    throw new ValidationError(
      "policy.pair_cooldown_ms",
      "must be at least rate_target.max_stake_period_ms: the cool-down must cover the longest stake period, or two friends could mint members in a loop",
    );
  }
}

export function isLegacyGrowth(growth: GrowthRules): boolean {
  return (Object.keys(LEGACY_GROWTH_RULES) as (keyof GrowthRules)[]).every(
    (key) => growth[key] === LEGACY_GROWTH_RULES[key],
  );
}

/**
 * The growth rules, and the settings that would make growing faster pay. The reasoning:
 *
 * - A member who may play against an identity it controls chooses what that game yields: both
 *   cooperating admit one sponsored identity (the candidate), defecting on its own identity yields
 *   `defector_credits` controlled identities (the betrayed one is only suspended, and it is the
 *   attacker's own). Unless defector_credits <= 1, defecting on yourself beats cooperating.
 *   A member can play an identity it controls when controlled identities stake and no lineage rule
 *   separates a controller from what it controls.
 * - Even at one credit, a controlled identity that stakes is a new staking slot bought with a credit:
 *   every slot yields slots, which is exponential growth (the credit farm: 2 controlled identities,
 *   one defects on the other, 2 more, ...). So while admission games grant credits at all, controlled
 *   identities must not stake (FORBIDDEN): credits then mint identities that cannot mint further,
 *   and the number of them is bounded by the games their controllers play (quota, credit cap).
 * - A newcomer that could stake at once makes a cooperating ring double every stake period: the
 *   maturity period, when set, is at least one stake period, and the quota window likewise (a
 *   shorter window would allow no fewer games than the stake lock already does).
 */
function validateGrowth(policy: Policy): void {
  const growth = policy.growth;
  const at = "policy.growth";
  const credits = policy.admission.defectorCredits;
  switch (growth.controlledStaking) {
    case "legacy":
      throw new ValidationError(
        `${at}.controlled_staking`,
        "must be set (CONTROLLED_STAKING_FORBIDDEN or CONTROLLED_STAKING_ALLOWED): a policy must say whether identities minted by credits may stake",
      );
    case "forbidden":
      break;
    case "allowed":
      if (growth.lineageDistance === 0 && credits > 1) {
        throw new ValidationError(
          "policy.admission.defector_credits",
          `must be at most 1 while a member may play against an identity it controls (controlled_staking ALLOWED, lineage_distance 0): defecting on it would yield ${credits} identities against 1 for cooperating with it`,
        );
      }
      if (credits > 0) {
        throw new ValidationError(
          `${at}.controlled_staking`,
          `must be CONTROLLED_STAKING_FORBIDDEN while admission games grant credits (defector_credits ${credits}): a controlled identity that stakes adds a staking slot bought with a credit, so credits would compound into a farm`,
        );
      }
      break;
    default: {
      const unreachable: never = growth.controlledStaking;
      throw new ValidationError(`${at}.controlled_staking`, `unknown value ${String(unreachable)}`);
    }
  }
  period(`${at}.maturity_period_ms`, growth.maturityPeriodMs);
  const stake = policy.admission.stakePeriodMs;
  if (growth.maturityPeriodMs > 0 && growth.maturityPeriodMs < stake) {
    throw new ValidationError(
      `${at}.maturity_period_ms`,
      `must be 0 or at least the admission stake period (${stake} ms): a newcomer staking sooner lets a cooperating ring double every stake period`,
    );
  }
  windowed(`${at}.sponsor_quota`, growth.sponsorQuota, `${at}.sponsor_quota_window_ms`, growth.sponsorQuotaWindowMs);
  if (growth.sponsorQuota > 0 && growth.sponsorQuotaWindowMs < stake) {
    throw new ValidationError(
      `${at}.sponsor_quota_window_ms`,
      `must be at least the admission stake period (${stake} ms): a shorter window limits nothing the stake lock does not`,
    );
  }
  if (
    !Number.isInteger(growth.lineageDistance) ||
    growth.lineageDistance < 0 ||
    growth.lineageDistance > MAX_LINEAGE_DISTANCE
  ) {
    throw new ValidationError(`${at}.lineage_distance`, `must be a whole number from 0 to ${MAX_LINEAGE_DISTANCE}`);
  }
  windowed(`${at}.credit_cap`, growth.creditCap, `${at}.credit_cap_window_ms`, growth.creditCapWindowMs);
  count(`${at}.pending_proposal_cap`, growth.pendingProposalCap);
}

function windowed(countField: string, value: number, windowField: string, windowMs: number): void {
  count(countField, value);
  period(windowField, windowMs);
  if ((value === 0) !== (windowMs === 0)) {
    throw new ValidationError(
      value === 0 ? countField : windowField,
      `must be set together with ${value === 0 ? windowField : countField} (both 0 turns the rule off)`,
    );
  }
}

function count(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_COUNT) {
    throw new ValidationError(field, `must be a whole number from 0 to ${MAX_COUNT}`);
  }
}

function validateRules(field: string, rules: GameRules | undefined): void {
  if (!rules) throw new ValidationError(field, "is required");
  period(`${field}.stake_period_ms`, rules.stakePeriodMs, 1);
  period(`${field}.penalty_period_ms`, rules.penaltyPeriodMs);
  period(`${field}.commit_window_ms`, rules.commitWindowMs, 1);
  period(`${field}.reveal_window_ms`, rules.revealWindowMs, 1);
  period(`${field}.no_show_penalty_ms`, rules.noShowPenaltyMs);
  if (!Number.isInteger(rules.defectorCredits) || rules.defectorCredits < 0 || rules.defectorCredits > 100) {
    throw new ValidationError(`${field}.defector_credits`, "must be a whole number from 0 to 100");
  }
  if (rules.suspendBothDefectors && rules.penaltyPeriodMs === 0) {
    throw new ValidationError(
      `${field}.penalty_period_ms`,
      "must be above 0 when both defectors are suspended, or the suspension would be a no-op",
    );
  }
  const bothDefectPenalty = rules.suspendBothDefectors ? rules.penaltyPeriodMs : 0;
  if (rules.noShowPenaltyMs < bothDefectPenalty) {
    throw new ValidationError(
      `${field}.no_show_penalty_ms`,
      `is milder than the both-defect penalty (${rules.noShowPenaltyMs} ms < ${bothDefectPenalty} ms): ` +
        "a defector who sees the other's defect reveal would simply not reveal",
    );
  }
  if (rules.noShowPenaltyMs === 0) {
    throw new ValidationError(
      `${field}.no_show_penalty_ms`,
      "must be above 0: a sponsor could otherwise walk away from every game it is losing at no cost",
    );
  }
}

function period(field: string, value: number, min = 0): void {
  if (!Number.isSafeInteger(value) || value < min || value > MAX_PERIOD_MS) {
    throw new ValidationError(field, `must be a whole number of milliseconds from ${min} to ${MAX_PERIOD_MS}`);
  }
}
