import assert from "node:assert/strict";
import { test } from "node:test";
import { EntityFold, entityOf } from "./fold.js";

const tag = (byte: number) => new Uint8Array([byte]);

test("entityOf keys an event by its game, then its proposal, then its member, else its aggregate", () => {
  const of = (value: Record<string, unknown> | undefined) =>
    entityOf({ aggregateId: "ledger", event: value === undefined ? undefined : ({ $case: "x", value } as never) });
  assert.equal(of({ gameId: "g1", proposalId: "p1", memberId: "m1" }), "g1");
  assert.equal(of({ gameId: "", proposalId: "p1", memberId: "m1" }), "p1");
  assert.equal(of({ memberId: "m1" }), "m1");
  assert.equal(of({ memberId: 7 }), "ledger");
  assert.equal(of(undefined), "ledger");
});

test("EntityFold keeps one row per entity with its last event, counts, and starts empty after take", () => {
  const fold = new EntityFold();
  fold.add("g1", "GameStarted", 1, 100, tag(1));
  fold.add("g2", "GameStarted", 2, 200, tag(2));
  fold.add("g1", "MoveCommitted", 3, 300, tag(3));
  assert.equal(fold.size, 2);
  const rows = fold.take();
  assert.deepEqual(
    rows.map((row) => [row.id, row.kind, row.firstSeq, row.lastSeq, row.at, row.events, row.tag[0]]),
    [
      ["g1", "MoveCommitted", 1, 3, 300, 2, 3],
      ["g2", "GameStarted", 2, 2, 200, 1, 2],
    ],
  );
  assert.equal(fold.size, 0);
  assert.deepEqual(fold.take(), []);
});

test("EntityFold refuses an entity's event that does not follow its last one", () => {
  const fold = new EntityFold();
  fold.add("m1", "MemberAdmitted", 5, 0, tag(0));
  assert.throws(() => fold.add("m1", "CreditsGranted", 5, 0, tag(0)), /event 5 of m1 arrived after 5/);
});
