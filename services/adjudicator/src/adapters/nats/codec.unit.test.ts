import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_POLICY, NO_OPENING } from "@pot/mechanism";
import { stakePeriodOf } from "../../application/adjudicator.js";
import type { GameEvent } from "../../domain/index.js";
import { gameEventFromWire, gameEventToWire } from "./codec.js";

const DAY = 86_400_000;
const started: Extract<GameEvent, { type: "GameStarted" }> = {
  type: "GameStarted",
  gameId: "g1",
  sponsorA: { memberId: "a".repeat(64), publicKey: new Uint8Array(32).fill(1) },
  sponsorB: { memberId: "b".repeat(64), publicKey: new Uint8Array(32).fill(2) },
  action: { type: "generic", kind: "x", payload: new Uint8Array([1, 2]) },
  policy: DEFAULT_POLICY,
  openedAt: 1_000,
  commitDeadline: 1_000 + DAY,
  stakePeriodMs: 10.5 * DAY,
  opening: NO_OPENING,
};

function roundTrip(event: GameEvent): GameEvent | undefined {
  return gameEventFromWire({
    eventId: "e",
    type: "pot.v1.gameStarted",
    aggregateId: "g1",
    causationId: "c",
    correlationId: "c",
    occurredAt: new Date(0),
    event: gameEventToWire(event),
  });
}

test("GameStarted keeps the stake period it recorded on the wire; an event without one decodes without one", () => {
  const decoded = roundTrip(started);
  assert.equal(decoded?.type, "GameStarted");
  assert.equal(decoded.type === "GameStarted" && decoded.stakePeriodMs, 10.5 * DAY);
  const { stakePeriodMs: _period, ...old } = started;
  const decodedOld = roundTrip(old);
  assert.ok(decodedOld?.type === "GameStarted" && !("stakePeriodMs" in decodedOld));
});

test("the stake period of a GameOpened is its lock time less its opening time, none for a lock that says nothing", () => {
  assert.equal(stakePeriodOf({ openedAtMs: 5_000n, stakeLockedUntilMs: 5_000n + BigInt(10.5 * DAY) }), 10.5 * DAY);
  assert.equal(stakePeriodOf({ openedAtMs: 5_000n, stakeLockedUntilMs: 0n }), undefined);
  assert.equal(stakePeriodOf({ openedAtMs: 5_000n, stakeLockedUntilMs: 4_000n }), undefined);
});
