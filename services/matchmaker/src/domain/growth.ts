import { ExhaustedError, IllegalStateError, PermissionError, type Policy, type PotError } from "@pot/mechanism";
import type { LedgerState } from "./ledger.js";

/**
 * The policy's growth rules as the matchmaker applies them where a member stakes (docs/growth.md).
 * Each returns the refusal, worded for the caller (the rule, the policy version, and when the act
 * will be allowed again), or undefined when the rule allows the act. A member registered before
 * growth rules existed has no admission record: the rules that need one pass it.
 */

/**
 * Whether the member may stake now: controlled identities never (when the policy forbids it), a
 * newcomer not before its maturity, nobody beyond the sponsor quota. With `permanentOnly`, only the
 * refusal that will never lift (a forbidden controlled identity): a partner proposed to may still
 * mature or regain quota before it answers.
 */
export function growthRefusal(
  state: LedgerState,
  policy: Policy,
  memberId: string,
  now: number,
  permanentOnly = false,
): PotError | undefined {
  const slot = state.slots.get(memberId);
  if (!slot) return undefined;
  const growth = policy.growth;
  const rule = `policy v${policy.version}`;
  const admission = slot.admission;
  if (admission?.kind === "controlled" && growth.controlledStaking === "forbidden") {
    return new PermissionError(
      `member ${memberId} is a controlled identity (admitted by a credit of ${admission.controllerId}): ${rule} forbids controlled identities to stake, so it may never propose or accept a game; an identity that is to sponsor must be admitted by a game`,
    );
  }
  if (permanentOnly) return undefined;
  if (admission && admission.kind !== "genesis" && growth.maturityPeriodMs > 0) {
    const mature = admission.admittedAt + growth.maturityPeriodMs;
    if (mature > now) {
      return new IllegalStateError(
        `member ${memberId} was admitted at ${iso(admission.admittedAt)} and may not stake before ${iso(mature)}: the maturity period of ${rule} is ${span(growth.maturityPeriodMs)}`,
      );
    }
  }
  if (growth.sponsorQuota > 0) {
    const window = growth.sponsorQuotaWindowMs;
    const recent = slot.openings.filter((at) => at > now - window);
    if (recent.length >= growth.sponsorQuota) {
      const from = recent[recent.length - growth.sponsorQuota]! + window;
      return new ExhaustedError(
        `member ${memberId} has been a sponsor of ${recent.length} game${recent.length === 1 ? "" : "s"} opened in the last ${span(window)}, the sponsor quota of ${rule} (${growth.sponsorQuota} per ${span(window)}): it may sponsor again from ${iso(from)}`,
      );
    }
  }
  return undefined;
}

/** Whether the member has room for one more proposal waiting for an answer. */
export function pendingProposalRefusal(
  state: LedgerState,
  policy: Policy,
  memberId: string,
  now: number,
): PotError | undefined {
  const cap = policy.growth.pendingProposalCap;
  const slot = state.slots.get(memberId);
  if (cap === 0 || !slot) return undefined;
  const waiting = slot.pending
    .map((id) => state.proposals.get(id))
    .filter((proposal) => proposal?.status === "pending" && proposal.expiresAt > now);
  if (waiting.length < cap) return undefined;
  const firstExpiry = Math.min(...waiting.map((proposal) => proposal!.expiresAt));
  return new ExhaustedError(
    `member ${memberId} already has ${waiting.length} proposals waiting for an answer, the cap of policy v${policy.version} (${cap}): cancel one, or propose again once one is answered or expires (the first at ${iso(firstExpiry)})`,
  );
}

/**
 * Whether two members may sponsor one game together: not when they are, or share, the same
 * controlling member, nor when they are related within the policy's lineage distance. A member's
 * parents are its sponsors, or its controller; the distance of two members is the fewest parent
 * steps from both to a common ancestor (parent and child 1, siblings and grandparents 2, cousins 4).
 * Two members who co-sponsored a third are not thereby related. The refusal never lifts while the
 * policy is in force.
 */
export function lineageRefusal(state: LedgerState, policy: Policy, x: string, y: string): PotError | undefined {
  const distance = policy.growth.lineageDistance;
  if (distance === 0) return undefined;
  const relation = sameController(state, x, y) ?? kinship(state, x, y, distance);
  if (!relation) return undefined;
  return new IllegalStateError(
    `members ${x} and ${y} may not sponsor a game together: ${relation}, and policy v${policy.version} refuses co-sponsors related within ${distance} lineage step${distance === 1 ? "" : "s"} or sharing a controller, for as long as it is in force`,
  );
}

function sameController(state: LedgerState, x: string, y: string): string | undefined {
  const rootX = controllingMember(state, x);
  const rootY = controllingMember(state, y);
  if (rootX !== rootY) return undefined;
  if (rootX === x) return `${y} is controlled by ${x}`;
  if (rootY === y) return `${x} is controlled by ${y}`;
  return `both are controlled by ${rootX}`;
}

/** Follows controller links up to the member that controls, transitively, this one (itself if none). */
export function controllingMember(state: LedgerState, memberId: string): string {
  let current = memberId;
  // Controllers are admitted before what they control, so the chain ends; the bound guards a bad log.
  for (let step = 0; step < 1_000; step++) {
    const admission = state.slots.get(current)?.admission;
    if (admission?.kind !== "controlled" || !admission.controllerId) return current;
    current = admission.controllerId;
  }
  return current;
}

/** The member's lineage parents: its sponsors, or its controller. */
export function parentsOf(state: LedgerState, memberId: string): readonly string[] {
  const admission = state.slots.get(memberId)?.admission;
  if (!admission) return [];
  switch (admission.kind) {
    case "genesis":
      return [];
    case "sponsored":
      return admission.sponsorIds;
    case "controlled":
      return admission.controllerId ? [admission.controllerId] : [];
    default: {
      const unreachable: never = admission.kind;
      return unreachable;
    }
  }
}

/** The member and its ancestors up to `depth` parent steps, each with its fewest steps. */
function ancestors(state: LedgerState, memberId: string, depth: number): Map<string, number> {
  const found = new Map<string, number>([[memberId, 0]]);
  let frontier = [memberId];
  for (let step = 1; step <= depth && frontier.length > 0; step++) {
    const next: string[] = [];
    for (const id of frontier) {
      for (const parent of parentsOf(state, id)) {
        if (found.has(parent)) continue;
        found.set(parent, step);
        next.push(parent);
      }
    }
    frontier = next;
  }
  return found;
}

/** How x and y are related within `distance` steps, in words, or undefined. */
function kinship(state: LedgerState, x: string, y: string, distance: number): string | undefined {
  const fromX = ancestors(state, x, distance);
  const fromY = ancestors(state, y, distance);
  let best: { ancestor: string; dx: number; dy: number } | undefined;
  for (const [ancestor, dx] of fromX) {
    const dy = fromY.get(ancestor);
    if (dy === undefined || dx + dy > distance) continue;
    if (!best || dx + dy < best.dx + best.dy) best = { ancestor, dx, dy };
  }
  if (!best) return undefined;
  const { ancestor, dx, dy } = best;
  if (ancestor === x) return `${x} is ${generations(dy)} of ${y}`;
  if (ancestor === y) return `${y} is ${generations(dx)} of ${x}`;
  if (dx === 1 && dy === 1) return `they share the sponsor or controller ${ancestor}`;
  return `they are ${dx + dy} lineage steps apart through their common ancestor ${ancestor}`;
}

function generations(steps: number): string {
  if (steps === 1) return "a sponsor or controller";
  if (steps === 2) return "a grandparent (a sponsor's or controller's sponsor or controller)";
  return `an ancestor ${steps} generations up`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A period for people: "30 d", "12 h", "2 s", or ms when it is none of those whole. */
export function span(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, "d"],
    [3_600_000, "h"],
    [60_000, "min"],
    [1_000, "s"],
  ];
  for (const [size, unit] of units) if (ms >= size && ms % size === 0) return `${ms / size} ${unit}`;
  return `${ms} ms`;
}
