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

export interface Policy {
  readonly version: number;
  readonly admission: GameRules;
  readonly actionKinds: readonly { readonly kind: string; readonly rules: GameRules }[];
  readonly pairCooldownMs: number;
  readonly proposalTtlMs: number;
  readonly creditTtlMs: number;
  readonly exclusionSponsorPenaltyMs: number;
}

/** The seed's payoff table with periods an operator can start from; published as version 1. */
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
};

export const ACTION_KIND_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const MAX_PERIOD_MS = 100 * 365 * DAY;

/** The rules that govern a game over the given action kind ("admission" or a generic kind). */
export function rulesFor(policy: Policy, kind: string): GameRules | undefined {
  if (kind === "admission") return policy.admission;
  return policy.actionKinds.find((entry) => entry.kind === kind)?.rules;
}

/**
 * Refuses settings that are malformed or incentive-incompatible, with a sentence saying why.
 * Throws ValidationError naming the field.
 */
export function validatePolicy(policy: Policy): void {
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
