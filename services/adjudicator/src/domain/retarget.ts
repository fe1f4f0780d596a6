import type { RateTarget } from "@pot/mechanism";

/**
 * Rate targeting: the admission stake period, retargeted once per interval from the admissions the
 * interval saw, like a proof-of-work difficulty adjustment. A sponsor stakes once per stake period, so
 * the admission rate is roughly (active sponsors) / (stake period): scaling the period by observed/target
 * brings the next interval's rate to the target when the population holds still, and the bounded step
 * keeps one odd interval (or an attacker's burst) from swinging it far. Pure and deterministic: the
 * adjudicator, `pot verify` and the simulator compute the same period from the same counts.
 */

/** Whether the rate target is on (a target of 0 admissions per interval is off). */
export function rateTargetOn(target: RateTarget): boolean {
  return target.admissionsPerInterval > 0;
}

/** The index k of the interval [k·intervalMs, (k+1)·intervalMs) that contains `atMs`. */
export function intervalIndexAt(target: RateTarget, atMs: number): number {
  return Math.floor(atMs / target.intervalMs);
}

export function intervalStart(target: RateTarget, index: number): number {
  return index * target.intervalMs;
}

export function intervalEnd(target: RateTarget, index: number): number {
  return (index + 1) * target.intervalMs;
}

/** The first interval retargeted under a policy published at `publishedAtMs`: the first to start at or after it. */
export function firstRetargetInterval(target: RateTarget, publishedAtMs: number): number {
  return Math.ceil(publishedAtMs / target.intervalMs);
}

/**
 * The stake period for the next interval, given the current one and the admissions the interval that
 * just ended saw: current × observed / target, moved at most by the factor (1 + maxStepPercent/100) either
 * way (no admission at all: the largest step down), then clamped to [minStakePeriodMs, maxStakePeriodMs];
 * whole milliseconds. With the target off it returns the current period.
 */
export function retargetStakePeriod(target: RateTarget, currentMs: number, observedAdmissions: number): number {
  if (!rateTargetOn(target)) return currentMs;
  const factor = 1 + target.maxStepPercent / 100;
  const ideal =
    observedAdmissions <= 0 ? currentMs / factor : (currentMs * observedAdmissions) / target.admissionsPerInterval;
  const stepped = Math.min(currentMs * factor, Math.max(currentMs / factor, ideal));
  return Math.min(target.maxStakePeriodMs, Math.max(target.minStakePeriodMs, Math.round(stepped)));
}
