import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { resolutionAmounts, resolutionAmountsForgery, type AmountsBasis } from "./amounts.js";
import type { ActionSpec } from "./payloads.js";
import { DEFAULT_POLICY, type Policy } from "./policy.js";

const DAY = 24 * 60 * 60 * 1000;
const A = "a".repeat(64);
const B = "b".repeat(64);
const ADMISSION: ActionSpec = {
  type: "admission",
  candidatePublicKey: new Uint8Array(32),
  agreementVersion: 1,
  agreementHash: new Uint8Array(32),
  consentProposalId: "p",
  consentControllerId: "",
  consentExpiresAtMs: 0,
  consentSignature: new Uint8Array(64),
};
const GENERIC: ActionSpec = { type: "generic", kind: "vote", payload: new Uint8Array() };
const WITH_VOTE: Policy = {
  ...DEFAULT_POLICY,
  actionKinds: [{ kind: "vote", rules: { ...DEFAULT_POLICY.admission, defectorCredits: 0, suspendBetrayed: false } }],
};
const T = 1_000_000;

function basis(outcome: AmountsBasis["outcome"], extra: Partial<AmountsBasis> = {}): AmountsBasis {
  return { action: ADMISSION, sponsorAId: A, sponsorBId: B, outcome, resolvedAt: T, noShowIds: [], ...extra };
}

describe("resolutionAmounts", () => {
  test("a defector of an admission earns the policy's credits under its cap; the betrayed is suspended", () => {
    assert.deepEqual(resolutionAmounts(DEFAULT_POLICY, basis("b-defected")), {
      credits: [{ memberId: B, count: 2, expiresAtMs: T + 365 * DAY, cap: { count: 2, windowMs: 30 * DAY } }],
      suspensions: [{ memberId: A, untilMs: T + 30 * DAY }],
    });
  });

  test("a policy without a credit cap awards uncapped credits", () => {
    const uncapped = { ...DEFAULT_POLICY, growth: { ...DEFAULT_POLICY.growth, creditCap: 0 } };
    assert.deepEqual(resolutionAmounts(uncapped, basis("a-defected")).credits, [
      { memberId: A, count: 2, expiresAtMs: T + 365 * DAY },
    ]);
  });

  test("both defectors, no-shows, cooperation and cancellation", () => {
    assert.deepEqual(resolutionAmounts(DEFAULT_POLICY, basis("both-defected")).suspensions, [
      { memberId: A, untilMs: T + 30 * DAY },
      { memberId: B, untilMs: T + 30 * DAY },
    ]);
    assert.deepEqual(resolutionAmounts(DEFAULT_POLICY, basis("no-show", { noShowIds: [B] })), {
      credits: [],
      suspensions: [{ memberId: B, untilMs: T + 60 * DAY }],
    });
    assert.deepEqual(resolutionAmounts(DEFAULT_POLICY, basis("both-cooperated")), { credits: [], suspensions: [] });
    assert.deepEqual(resolutionAmounts(DEFAULT_POLICY, basis("cancelled")), { credits: [], suspensions: [] });
  });

  test("a generic action earns no credits and follows its own kind's rules", () => {
    assert.deepEqual(resolutionAmounts(WITH_VOTE, basis("a-defected", { action: GENERIC })), {
      credits: [],
      suspensions: [],
    });
    assert.throws(() => resolutionAmounts(DEFAULT_POLICY, basis("a-defected", { action: GENERIC })), /no rules/);
  });
});

describe("resolutionAmountsForgery", () => {
  const honest = resolutionAmounts(DEFAULT_POLICY, basis("a-defected"));

  test("accepts exactly the recomputed amounts", () => {
    assert.equal(resolutionAmountsForgery(DEFAULT_POLICY, basis("a-defected"), honest), undefined);
  });

  test("refuses an inflated credit count, a raised cap, a dropped cap and a later expiry", () => {
    const [award] = honest.credits;
    assert.ok(award?.cap);
    for (const forged of [
      { ...award, count: 50 },
      { ...award, cap: { count: 1000, windowMs: award.cap.windowMs } },
      { memberId: award.memberId, count: award.count, expiresAtMs: award.expiresAtMs },
      { ...award, expiresAtMs: award.expiresAtMs + DAY },
    ]) {
      const refusal = resolutionAmountsForgery(DEFAULT_POLICY, basis("a-defected"), { ...honest, credits: [forged] });
      assert.match(
        refusal ?? "",
        /credit award of .* is not what the policy gives the outcome: policy v1 gives 2 credits/,
      );
    }
  });

  test("refuses a longer suspension, an extra award and a missing suspension", () => {
    const [suspension] = honest.suspensions;
    assert.ok(suspension);
    assert.match(
      resolutionAmountsForgery(DEFAULT_POLICY, basis("a-defected"), {
        ...honest,
        suspensions: [{ ...suspension, untilMs: suspension.untilMs + 365 * DAY }],
      }) ?? "",
      /suspension of .* is not what the policy gives/,
    );
    assert.match(
      resolutionAmountsForgery(DEFAULT_POLICY, basis("a-defected"), {
        ...honest,
        credits: [...honest.credits, ...honest.credits],
      }) ?? "",
      /credit award of .*policy v1 gives none/,
    );
    assert.match(
      resolutionAmountsForgery(DEFAULT_POLICY, basis("a-defected"), { ...honest, suspensions: [] }) ?? "",
      /suspension missing: policy v1 gives/,
    );
  });

  test("a policy without rules for the action kind refuses", () => {
    assert.match(
      resolutionAmountsForgery(DEFAULT_POLICY, basis("a-defected", { action: GENERIC }), honest) ?? "",
      /no rules for action kind 'vote'/,
    );
  });
});
