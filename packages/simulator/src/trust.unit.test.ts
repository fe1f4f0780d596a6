import assert from "node:assert/strict";
import { test } from "node:test";
import { TrustBoard } from "./trust.js";
import type { GameResolved, MemberAdmitted } from "./world.js";

function admitted(memberId: string, kind: MemberAdmitted["kind"], parents: string[] = []): MemberAdmitted {
  return {
    type: "MemberAdmitted",
    memberId,
    publicKey: new Uint8Array(32),
    kind,
    sponsorIds: kind === "sponsored" ? parents : [],
    controllerId: kind === "controlled" ? parents[0]! : "",
    gameId: "",
    consent: undefined,
    displayName: "",
    admittedAt: 0,
  };
}

function resolved(a: string, b: string, moves: [string, string] | "no-show", noShowIds: string[] = []): GameResolved {
  return {
    type: "GameResolved",
    gameId: `${a}-${b}`,
    sponsorA: { memberId: a, publicKey: new Uint8Array(32) },
    sponsorB: { memberId: b, publicKey: new Uint8Array(32) },
    action: { type: "generic", kind: "x", payload: new Uint8Array() },
    policyVersion: 1,
    outcome: moves === "no-show" ? "no-show" : "both-cooperated",
    moveA: moves === "no-show" ? undefined : (moves[0] as "cooperate" | "defect"),
    moveB: moves === "no-show" ? undefined : (moves[1] as "cooperate" | "defect"),
    resolvedAt: 0,
    admitted: false,
    granted: false,
    credits: [],
    suspensions: [],
    noShowIds,
  } as GameResolved;
}

test("controlled, tainted, excluded, no-show and self-denying members are not clean; nor the children of misbehavers", () => {
  const board = new TrustBoard();
  for (const id of ["g1", "g2", "g3", "g4"]) board.admitted(admitted(id, "genesis"));
  board.admitted(admitted("c1", "controlled", ["g1"]));
  board.admitted(admitted("t1", "sponsored", ["c1", "g2"]));
  board.admitted(admitted("s1", "sponsored", ["g3", "g4"]));
  assert.equal(board.clean("g1"), true);
  assert.equal(board.clean("s1"), true);
  assert.equal(board.clean("c1"), false, "controlled");
  assert.equal(board.clean("t1"), false, "tainted by a controlled sponsor");
  assert.equal(board.clean("unknown"), false);
  board.resolved(resolved("g3", "g2", ["defect", "cooperate"]));
  assert.equal(board.clean("g3"), false, "defected on its own candidate");
  assert.equal(board.clean("s1"), false, "a parent misbehaved");
  assert.equal(board.lastMove("g2"), "cooperate");
  board.resolved(resolved("g4", "g2", "no-show", ["g4"]));
  assert.equal(board.clean("g4"), false, "no-show");
  board.excluded("g2");
  assert.equal(board.clean("g2"), false, "excluded");
});

test("one denial of another member's candidate is tolerated (a recognised fake), two are not", () => {
  const board = new TrustBoard();
  for (const id of ["a", "b", "c"]) board.admitted(admitted(id, "genesis"));
  board.resolved(resolved("a", "b", ["cooperate", "defect"]));
  assert.equal(board.clean("b"), true);
  assert.equal(board.clean("a"), true, "one candidate denied");
  board.resolved(resolved("c", "b", ["cooperate", "defect"]));
  assert.equal(board.clean("b"), false);
});

test("trust edges: a member never trusts a partner that defected on it or failed to show up, and counts its friends", () => {
  const board = new TrustBoard();
  for (const id of ["a", "b", "c", "d"]) board.admitted(admitted(id, "genesis"));
  board.resolved(resolved("a", "b", ["cooperate", "cooperate"]));
  assert.deepEqual(board.friends("a"), ["b"]);
  assert.deepEqual(board.friends("b"), ["a"]);
  assert.equal(board.edgeOf("a", "b")?.games, 1);
  board.resolved(resolved("c", "a", ["cooperate", "defect"]));
  assert.equal(board.trusts("c", "a"), false, "a denied c's candidate");
  assert.equal(board.trusts("b", "a"), true, "one denial: a is still clean to others");
  assert.equal(board.trusts("a", "c"), true);
  assert.deepEqual(board.friends("c"), []);
  board.resolved(resolved("d", "b", "no-show", ["d"]));
  assert.equal(board.trusts("b", "d"), false);
  assert.equal(board.edgeOf("b", "d")?.partnerNoShows, 1);
});
