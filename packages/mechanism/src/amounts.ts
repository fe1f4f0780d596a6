import type { GameOutcome } from "./evidence.js";
import type { ActionSpec } from "./payloads.js";
import { rulesFor, type Policy } from "./policy.js";

/**
 * The amounts of a game's resolution: the credits it awards and the suspensions it imposes, with
 * their counts, caps and ends. No member signs them: they follow from the policy the game opened
 * with, its outcome and its resolution time, and this is the one pure recomputation the adjudicator's
 * decider, `pot verify` and every service reacting to a GameResolved share (docs/events.md,
 * "Amounts re-checked").
 */
export interface CreditAwardAmount {
  readonly memberId: string;
  readonly count: number;
  readonly expiresAtMs: number;
  /** The policy's credit cap (growth.credit_cap over credit_cap_window_ms); absent when it has none. */
  readonly cap?: { readonly count: number; readonly windowMs: number };
}

export interface SuspensionAmount {
  readonly memberId: string;
  readonly untilMs: number;
}

export interface ResolutionAmounts {
  readonly credits: readonly CreditAwardAmount[];
  readonly suspensions: readonly SuspensionAmount[];
}

/** What the amounts follow from, besides the policy. */
export interface AmountsBasis {
  readonly action: ActionSpec;
  readonly sponsorAId: string;
  readonly sponsorBId: string;
  readonly outcome: GameOutcome;
  readonly resolvedAt: number;
  /** The sponsors that failed to commit or reveal, for a no-show (in the order the resolution names them). */
  readonly noShowIds: readonly string[];
}

function actionKindOf(action: ActionSpec): string {
  return action.type === "admission" ? "admission" : action.kind;
}

/**
 * The credits and suspensions the policy gives this outcome: a defector of an admission earns the
 * policy's defector credits (expiring after credit_ttl, under the policy's cap), the betrayed sponsor
 * or both defectors are suspended for the penalty period when the policy says so, a no-show for the
 * no-show penalty. Throws when the policy has no rules for the game's action kind.
 */
export function resolutionAmounts(policy: Policy, basis: AmountsBasis): ResolutionAmounts {
  const kind = actionKindOf(basis.action);
  const rules = rulesFor(policy, kind);
  if (!rules) throw new Error(`policy v${policy.version} has no rules for action kind '${kind}'`);
  const now = basis.resolvedAt;
  const penaltyUntil = now + rules.penaltyPeriodMs;
  const a = basis.sponsorAId;
  const b = basis.sponsorBId;
  switch (basis.outcome) {
    case "both-cooperated":
    case "cancelled":
      return { credits: [], suspensions: [] };
    case "both-defected":
      return {
        credits: [],
        suspensions: rules.suspendBothDefectors
          ? [
              { memberId: a, untilMs: penaltyUntil },
              { memberId: b, untilMs: penaltyUntil },
            ]
          : [],
      };
    case "a-defected":
    case "b-defected": {
      const defector = basis.outcome === "a-defected" ? a : b;
      const betrayed = basis.outcome === "a-defected" ? b : a;
      const { creditCap, creditCapWindowMs } = policy.growth;
      return {
        credits:
          basis.action.type === "admission" && rules.defectorCredits > 0
            ? [
                {
                  memberId: defector,
                  count: rules.defectorCredits,
                  expiresAtMs: now + policy.creditTtlMs,
                  ...(creditCap > 0 ? { cap: { count: creditCap, windowMs: creditCapWindowMs } } : {}),
                },
              ]
            : [],
        suspensions: rules.suspendBetrayed ? [{ memberId: betrayed, untilMs: penaltyUntil }] : [],
      };
    }
    case "no-show":
      return {
        credits: [],
        suspensions: basis.noShowIds.map((memberId) => ({ memberId, untilMs: now + rules.noShowPenaltyMs })),
      };
    default: {
      const unreachable: never = basis.outcome;
      throw new Error(`unknown outcome ${String(unreachable)}`);
    }
  }
}

/**
 * Why the amounts a resolution carries are not the ones its policy gives its outcome, or undefined:
 * every credit award (member, count, expiry, cap) and every suspension (member, end) must be exactly
 * the recomputed one, none missing and none extra. A policy without rules for the action kind is a
 * forgery too (the game could not have opened under it).
 */
export function resolutionAmountsForgery(
  policy: Policy,
  basis: AmountsBasis,
  claimed: ResolutionAmounts,
): string | undefined {
  let expected: ResolutionAmounts;
  try {
    expected = resolutionAmounts(policy, basis);
  } catch (error) {
    return (error as Error).message;
  }
  const credits = listDifference(
    "credit award",
    claimed.credits.map(creditText),
    expected.credits.map(creditText),
    policy.version,
  );
  if (credits) return credits;
  return listDifference(
    "suspension",
    claimed.suspensions.map(suspensionText),
    expected.suspensions.map(suspensionText),
    policy.version,
  );
}

function creditText(award: CreditAwardAmount): string {
  const cap = award.cap ? `, cap ${award.cap.count} per ${award.cap.windowMs} ms` : ", no cap";
  return `${award.count} credits to ${award.memberId} expiring at ${award.expiresAtMs}${cap}`;
}

function suspensionText(suspension: SuspensionAmount): string {
  return `${suspension.memberId} suspended until ${suspension.untilMs}`;
}

function listDifference(
  what: string,
  claimed: readonly string[],
  expected: readonly string[],
  version: number,
): string | undefined {
  const remaining = [...expected];
  for (const entry of claimed) {
    const at = remaining.indexOf(entry);
    if (at < 0) {
      const due =
        remaining.length > 0 ? `policy v${version} gives ${remaining.join("; ")}` : `policy v${version} gives none`;
      return `${what} of ${entry} is not what the policy gives the outcome: ${due}`;
    }
    remaining.splice(at, 1);
  }
  if (remaining.length > 0) return `${what} missing: policy v${version} gives ${remaining.join("; ")}`;
  return undefined;
}
