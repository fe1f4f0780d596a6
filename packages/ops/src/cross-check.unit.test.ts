import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AdmissionKind,
  CreditsGranted,
  CreditRedeemed,
  GameOpened,
  GameResolved,
  GameStarted,
  MemberAdmitted,
  type Envelope,
} from "@pot/contracts";
import { CrossCheck } from "./cross-check.js";

type Body = NonNullable<Envelope["event"]>;
const envelope = (event: Body): Envelope => ({
  eventId: "e",
  type: `pot.v1.${event.$case}`,
  aggregateId: "x",
  causationId: "c",
  correlationId: "c",
  occurredAt: new Date(0),
  event,
});

const A = "aa".repeat(32);
const B = "bb".repeat(32);
const C = "cc".repeat(32);
const sponsors = {
  sponsorA: { memberId: A, publicKey: new Uint8Array() },
  sponsorB: { memberId: B, publicKey: new Uint8Array() },
};
const admissionOf = (id: string) => ({
  action: { $case: "admission" as const, value: { consent: { candidatePublicKey: Buffer.from(id, "hex") } } },
});

/** A consistent history: genesis A and B, game g1 admits C (A cooperates, B cooperates), B defects in g2 for 2 credits and redeems one. */
function honest(cut?: ConstructorParameters<typeof CrossCheck>[1]): CrossCheck {
  const check = new CrossCheck(undefined, cut);
  let seq = 0;
  for (const id of [A, B]) {
    check.add(
      "identity",
      ++seq,
      envelope({
        $case: "memberAdmitted",
        value: MemberAdmitted.fromPartial({ memberId: id, kind: AdmissionKind.ADMISSION_KIND_GENESIS }),
      }),
    );
  }
  check.add(
    "matchmaker",
    1,
    envelope({ $case: "gameOpened", value: GameOpened.fromPartial({ gameId: "g1", ...sponsors }) }),
  );
  check.add(
    "adjudicator",
    1,
    envelope({ $case: "gameStarted", value: GameStarted.fromPartial({ gameId: "g1", ...sponsors }) }),
  );
  check.add(
    "adjudicator",
    2,
    envelope({
      $case: "gameResolved",
      value: GameResolved.fromPartial({ gameId: "g1", ...sponsors, admitted: true, action: admissionOf(C) }),
    }),
  );
  check.add(
    "identity",
    ++seq,
    envelope({
      $case: "memberAdmitted",
      value: MemberAdmitted.fromPartial({
        memberId: C,
        kind: AdmissionKind.ADMISSION_KIND_SPONSORED,
        gameId: "g1",
        sponsorIds: [B, A],
      }),
    }),
  );
  check.add(
    "matchmaker",
    2,
    envelope({ $case: "gameOpened", value: GameOpened.fromPartial({ gameId: "g2", ...sponsors }) }),
  );
  check.add(
    "adjudicator",
    3,
    envelope({ $case: "gameStarted", value: GameStarted.fromPartial({ gameId: "g2", ...sponsors }) }),
  );
  check.add(
    "adjudicator",
    4,
    envelope({
      $case: "gameResolved",
      value: GameResolved.fromPartial({ gameId: "g2", ...sponsors, credits: [{ memberId: B, count: 2 }] }),
    }),
  );
  check.add(
    "identity",
    ++seq,
    envelope({ $case: "creditsGranted", value: CreditsGranted.fromPartial({ memberId: B, gameId: "g2", count: 2 }) }),
  );
  check.add(
    "identity",
    ++seq,
    envelope({
      $case: "creditRedeemed",
      value: CreditRedeemed.fromPartial({ memberId: B, admittedMemberId: "dd".repeat(32) }),
    }),
  );
  check.add(
    "identity",
    ++seq,
    envelope({
      $case: "memberAdmitted",
      value: MemberAdmitted.fromPartial({
        memberId: "dd".repeat(32),
        kind: AdmissionKind.ADMISSION_KIND_CONTROLLED,
        controllerId: B,
      }),
    }),
  );
  return check;
}

test("a consistent history of the three streams cross-checks", () => {
  assert.deepEqual(honest().finish(), []);
});

test("a fully forged game (never opened by the matchmaker) is reported on the adjudicator's stream", () => {
  const check = honest();
  check.add(
    "adjudicator",
    9,
    envelope({ $case: "gameStarted", value: GameStarted.fromPartial({ gameId: "forged", ...sponsors }) }),
  );
  const [problem, ...rest] = check.finish();
  assert.deepEqual(rest, []);
  assert.equal(problem?.stream, "adjudicator");
  assert.match(problem!.problem, /forged game: the matchmaker's stream never opened it/);
});

test("an event past its stream's cut is evidence only: what is wrong with it waits for the next run", () => {
  const forgedAt = (adjudicatorCut: number) => {
    const check = honest({ identity: 100, matchmaker: 100, adjudicator: adjudicatorCut });
    check.add(
      "adjudicator",
      9,
      envelope({ $case: "gameStarted", value: GameStarted.fromPartial({ gameId: "forged", ...sponsors }) }),
    );
    return check.finish();
  };
  assert.deepEqual(forgedAt(8), [], "past the cut: not reported");
  assert.equal(forgedAt(9).length, 1, "inside the cut: reported");
  // The honest history's resolution past the adjudicator's cut still justifies the admission inside
  // identity's: an effect checked against a cause appended while verify was reading.
  assert.deepEqual(honest({ identity: 100, matchmaker: 100, adjudicator: 1 }).finish(), []);
});

test("credits no resolution awards, a sponsored admission no resolution admits, a controlled one with no redeem: each reported", () => {
  const check = honest();
  check.add(
    "identity",
    20,
    envelope({ $case: "creditsGranted", value: CreditsGranted.fromPartial({ memberId: A, gameId: "g1", count: 100 }) }),
  );
  check.add(
    "identity",
    21,
    envelope({
      $case: "memberAdmitted",
      value: MemberAdmitted.fromPartial({
        memberId: "ee".repeat(32),
        kind: AdmissionKind.ADMISSION_KIND_SPONSORED,
        gameId: "g2",
        sponsorIds: [A, B],
      }),
    }),
  );
  check.add(
    "identity",
    22,
    envelope({
      $case: "memberAdmitted",
      value: MemberAdmitted.fromPartial({
        memberId: "ff".repeat(32),
        kind: AdmissionKind.ADMISSION_KIND_CONTROLLED,
        controllerId: A,
      }),
    }),
  );
  const problems = check.finish();
  assert.deepEqual(
    problems.map((p) => [p.stream, p.seq, /forged (credits|admission)/.exec(p.problem)?.[0]]),
    [
      ["identity", 20, "forged credits"],
      ["identity", 21, "forged admission"],
      ["identity", 22, "forged admission"],
    ],
  );
});

test("a game opened with a sponsor who is no member, and a redeem beyond the credits granted, are reported", () => {
  const check = honest();
  const stranger = {
    sponsorA: { memberId: "99".repeat(32), publicKey: new Uint8Array() },
    sponsorB: sponsors.sponsorB,
  };
  check.add(
    "matchmaker",
    9,
    envelope({ $case: "gameOpened", value: GameOpened.fromPartial({ gameId: "g9", ...stranger }) }),
  );
  check.add(
    "identity",
    30,
    envelope({
      $case: "creditRedeemed",
      value: CreditRedeemed.fromPartial({ memberId: B, admittedMemberId: "12".repeat(32) }),
    }),
  );
  check.add(
    "identity",
    31,
    envelope({
      $case: "creditRedeemed",
      value: CreditRedeemed.fromPartial({ memberId: B, admittedMemberId: "13".repeat(32) }),
    }),
  );
  const problems = check.finish().map((p) => `${p.stream}:${p.seq}:${p.problem}`);
  assert.equal(problems.length, 2, problems.join("\n"));
  assert.match(problems[0]!, /^matchmaker:9:.*not a member/);
  assert.match(problems[1]!, /^identity:31:.*redeemed more credits than it was granted/);
});

test("a GameStarted whose stake period is not the one the matchmaker locked is reported; one recording none is not", () => {
  const check = honest();
  const opening = { ...sponsors, openedAtMs: 1_000n, stakeLockedUntilMs: 1_000n + 907_200_000n };
  check.add(
    "matchmaker",
    10,
    envelope({ $case: "gameOpened", value: GameOpened.fromPartial({ gameId: "g3", ...opening }) }),
  );
  check.add(
    "adjudicator",
    10,
    envelope({
      $case: "gameStarted",
      value: GameStarted.fromPartial({ gameId: "g3", ...sponsors, stakePeriodMs: 907_200_000n }),
    }),
  );
  check.add(
    "matchmaker",
    11,
    envelope({ $case: "gameOpened", value: GameOpened.fromPartial({ gameId: "g4", ...opening }) }),
  );
  check.add(
    "adjudicator",
    11,
    envelope({
      $case: "gameStarted",
      value: GameStarted.fromPartial({ gameId: "g4", ...sponsors, stakePeriodMs: 604_800_000n }),
    }),
  );
  const [problem, ...rest] = check.finish();
  assert.deepEqual(rest, []);
  assert.equal(problem?.gameId, "g4");
  assert.match(problem!.problem, /stake period of 604800000 ms, but the matchmaker locked the stakes for 907200000 ms/);
});
