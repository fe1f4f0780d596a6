import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  availableCredits,
  decideMember,
  evolveMember,
  initialMemberState,
  taintedBy,
  type MemberCommand,
  type MemberEvent,
  type MemberState,
} from "./member.js";

const DAY = 86_400_000;

function admitted(
  memberId: string,
  kind: "genesis" | "sponsored" | "controlled",
  extra: { tainted?: boolean } = {},
): MemberState {
  const events = decideMember(
    {
      type: "Admit",
      memberId,
      publicKey: new Uint8Array(32),
      kind,
      sponsorIds: kind === "sponsored" ? ["a", "b"] : [],
      controllerId: kind === "controlled" ? "c" : "",
      gameId: "",
      consent: undefined,
      displayName: "",
      admittedAt: 1,
      ...extra,
    },
    initialMemberState(memberId),
  );
  return events.reduce(evolveMember, initialMemberState(memberId));
}

function grant(state: MemberState, command: Omit<Extract<MemberCommand, { type: "GrantCredits" }>, "type">) {
  const events = decideMember({ type: "GrantCredits", ...command }, state);
  return { events, state: events.reduce(evolveMember, state) };
}

describe("credit cap (identity's decider)", () => {
  const cap = { count: 2, windowMs: 30 * DAY };
  const at = 100 * DAY;

  test("credits beyond the cap within its window are not granted, and the event says how many were capped", () => {
    let state = admitted("m", "genesis");
    const first = grant(state, { gameId: "g1", count: 2, expiresAtMs: at + 365 * DAY, grantedAt: at, cap });
    assert.deepEqual(first.events, [
      { type: "CreditsGranted", memberId: "m", gameId: "g1", count: 2, expiresAtMs: at + 365 * DAY, grantedAt: at },
    ]);
    state = first.state;
    const second = grant(state, { gameId: "g2", count: 2, expiresAtMs: at + 366 * DAY, grantedAt: at + DAY, cap });
    assert.deepEqual(second.events, [
      {
        type: "CreditsGranted",
        memberId: "m",
        gameId: "g2",
        count: 0,
        capped: 2,
        expiresAtMs: at + 366 * DAY,
        grantedAt: at + DAY,
      },
    ]);
    state = second.state;
    assert.equal(availableCredits(state, at + 2 * DAY), 2);
    // A redelivered award changes nothing, capped or not.
    assert.deepEqual(
      decideMember({ type: "GrantCredits", gameId: "g2", count: 2, expiresAtMs: 0, grantedAt: at + DAY, cap }, state),
      [],
    );
    // Once the first grant leaves the window, the cap has room again.
    const later = grant(state, { gameId: "g3", count: 3, expiresAtMs: at + 400 * DAY, grantedAt: at + 30 * DAY, cap });
    assert.equal(later.events[0]?.type === "CreditsGranted" && later.events[0].count, 2);
    assert.equal(later.events[0]?.type === "CreditsGranted" && later.events[0].capped, 1);
  });

  test("without a cap (an old policy) every credit is granted", () => {
    const { events } = grant(admitted("m", "genesis"), { gameId: "g", count: 5, expiresAtMs: 10, grantedAt: 1 });
    assert.equal(events[0]?.type === "CreditsGranted" && events[0].count, 5);
  });

  test("grants recorded before caps existed (no time) do not count against a cap", () => {
    const old: MemberEvent = { type: "CreditsGranted", memberId: "m", gameId: "g0", count: 2, expiresAtMs: 10 * DAY };
    const state = evolveMember(admitted("m", "genesis"), old);
    const { events } = grant(state, { gameId: "g1", count: 2, expiresAtMs: 20 * DAY, grantedAt: DAY, cap });
    assert.equal(events[0]?.type === "CreditsGranted" && events[0].count, 2);
  });
});

describe("taint", () => {
  test("a member sponsored by a controlled or tainted member is tainted; by plain sponsors it is not", () => {
    assert.equal(taintedBy([admitted("a", "genesis"), admitted("b", "sponsored")]), false);
    assert.equal(taintedBy([admitted("a", "genesis"), admitted("b", "controlled")]), true);
    assert.equal(taintedBy([admitted("a", "sponsored", { tainted: true }), admitted("b", "genesis")]), true);
  });

  test("the mark is kept in the admission event and in the member's state", () => {
    const state = admitted("m", "sponsored", { tainted: true });
    assert.equal(state.status === "active" && state.tainted, true);
  });
});
