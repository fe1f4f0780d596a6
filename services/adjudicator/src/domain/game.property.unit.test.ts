import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  commitmentOf,
  commitPayload,
  DEFAULT_POLICY,
  keyPairFromSecret,
  memberIdOf,
  revealPayload,
  sign,
  type MoveName,
  type Policy,
  NO_OPENING,
} from "@pot/mechanism";
import { decideGame, evolveGame, initialGameState, type GameCommand, type GameEvent, type GameState } from "./game.js";

const GAME = "0b5c7a52-2d3e-4f10-9a7e-1234567890ab";
const NETWORK = "net-test";
const OPENED = 1_700_000_000_000;
const A = keyPairFromSecret(new Uint8Array(32).fill(1));
const B = keyPairFromSecret(new Uint8Array(32).fill(2));
const players = [
  { keys: A, id: memberIdOf(A.publicKey), nonce: new Uint8Array(32).fill(11) },
  { keys: B, id: memberIdOf(B.publicKey), nonce: new Uint8Array(32).fill(12) },
] as const;

const period = fc.integer({ min: 1, max: 10_000_000 });
const policyArb: fc.Arbitrary<Policy> = fc
  .record({
    stake: period,
    penalty: period,
    extraNoShow: fc.integer({ min: 0, max: 1_000_000 }),
    credits: fc.integer({ min: 0, max: 5 }),
    suspendBetrayed: fc.boolean(),
    suspendBoth: fc.boolean(),
    commit: period,
    reveal: period,
  })
  .map((r) => ({
    ...DEFAULT_POLICY,
    admission: {
      stakePeriodMs: r.stake,
      penaltyPeriodMs: r.penalty,
      commitWindowMs: r.commit,
      revealWindowMs: r.reveal,
      defectorCredits: r.credits,
      suspendBetrayed: r.suspendBetrayed,
      suspendBothDefectors: r.suspendBoth,
      noShowPenaltyMs: r.penalty + r.extraNoShow,
    },
  }));

/** What each sponsor does: plays a move, or stops showing up before committing / before revealing. */
const behaviour = fc.record({
  move: fc.constantFrom<MoveName>("cooperate", "defect"),
  shows: fc.constantFrom("both", "no-commit", "no-reveal"),
});

function start(policy: Policy): GameState {
  const events = decideGame(
    {
      type: "StartGame",
      gameId: GAME,
      sponsorA: { memberId: players[0].id, publicKey: A.publicKey },
      sponsorB: { memberId: players[1].id, publicKey: B.publicKey },
      action: {
        type: "admission",
        candidatePublicKey: new Uint8Array(32),
        agreementVersion: 1,
        agreementHash: new Uint8Array(32),
        consentProposalId: GAME,
        consentControllerId: "",
        consentExpiresAtMs: OPENED + 1,
        consentSignature: new Uint8Array(64),
      },
      policy,
      openedAt: OPENED,
      stakePeriodMs: policy.admission.stakePeriodMs,
      opening: NO_OPENING,
    },
    initialGameState(GAME),
  );
  return events.reduce(evolveGame, initialGameState(GAME));
}

test("the outcome matches the policy table for every move pair and every no-show; folding the events re-derives the state", () => {
  fc.assert(
    fc.property(policyArb, behaviour, behaviour, (policy, ba, bb) => {
      const rules = policy.admission;
      let state = start(policy);
      const log: GameEvent[] = [];
      const step = (command: GameCommand) => {
        const events = decideGame(command, state);
        log.push(...events);
        state = events.reduce(evolveGame, state);
      };
      const behaviours = [ba, bb];
      players.forEach((p, i) => {
        const b = behaviours[i]!;
        if (b.shows === "no-commit") return;
        const commitment = commitmentOf(GAME, p.id, b.move, p.nonce);
        step({
          type: "CommitMove",
          networkId: NETWORK,
          memberId: p.id,
          commitment,
          signature: sign(commitPayload(NETWORK, GAME, p.id, commitment), p.keys.secretKey),
          now: OPENED + 1,
        });
      });
      if (state.phase === "reveal") {
        players.forEach((p, i) => {
          const b = behaviours[i]!;
          if (b.shows !== "both") return;
          step({
            type: "RevealMove",
            networkId: NETWORK,
            memberId: p.id,
            move: b.move,
            nonce: p.nonce,
            signature: sign(revealPayload(NETWORK, GAME, p.id, b.move, p.nonce), p.keys.secretKey),
            now: OPENED + 2,
          });
        });
      }
      const lateEnough = OPENED + rules.commitWindowMs + rules.revealWindowMs + 10;
      step({ type: "Tick", now: lateEnough });
      assert.equal(state.phase, "resolved");
      const resolution = state.phase === "resolved" ? state.resolution! : undefined;
      assert.ok(resolution);

      const committedBoth = ba.shows !== "no-commit" && bb.shows !== "no-commit";
      const absent = committedBoth
        ? players.filter((_, i) => behaviours[i]!.shows !== "both").map((p) => p.id)
        : players.filter((_, i) => behaviours[i]!.shows === "no-commit").map((p) => p.id);
      if (absent.length > 0) {
        assert.equal(resolution.outcome, "no-show");
        assert.deepEqual([...resolution.noShowIds].sort(), absent.sort());
        assert.deepEqual(resolution.suspensions.map((s) => s.memberId).sort(), absent.sort());
        assert.ok(resolution.suspensions.every((s) => s.untilMs === resolution.resolvedAt + rules.noShowPenaltyMs));
        assert.equal(resolution.admitted, false);
        assert.deepEqual(resolution.credits, []);
      } else {
        const [ma, mb] = [ba.move, bb.move];
        const expected =
          ma === mb
            ? ma === "cooperate"
              ? "both-cooperated"
              : "both-defected"
            : ma === "defect"
              ? "a-defected"
              : "b-defected";
        assert.equal(resolution.outcome, expected);
        assert.equal(resolution.admitted, expected === "both-cooperated");
        const penalised =
          expected === "both-defected"
            ? rules.suspendBothDefectors
              ? [players[0].id, players[1].id]
              : []
            : expected === "a-defected"
              ? rules.suspendBetrayed
                ? [players[1].id]
                : []
              : expected === "b-defected"
                ? rules.suspendBetrayed
                  ? [players[0].id]
                  : []
                : [];
        assert.deepEqual(resolution.suspensions.map((s) => s.memberId).sort(), [...penalised].sort());
        assert.ok(resolution.suspensions.every((s) => s.untilMs === resolution.resolvedAt + rules.penaltyPeriodMs));
        const defector =
          expected === "a-defected" ? players[0].id : expected === "b-defected" ? players[1].id : undefined;
        assert.deepEqual(
          resolution.credits.map((c) => [c.memberId, c.count]),
          defector && rules.defectorCredits > 0 ? [[defector, rules.defectorCredits]] : [],
        );
      }
      // Not revealing is never cheaper than the both-defect penalty.
      assert.ok(rules.noShowPenaltyMs >= (rules.suspendBothDefectors ? rules.penaltyPeriodMs : 0));
      // Folding the emitted events from scratch re-derives the same state.
      assert.deepEqual(log.reduce(evolveGame, start(policy)), state);
      // No move is visible in the log before both commitments exist.
      const firstReveal = log.findIndex((e) => e.type === "MoveRevealed");
      if (firstReveal >= 0) assert.equal(log.slice(0, firstReveal).filter((e) => e.type === "MoveCommitted").length, 2);
    }),
    { numRuns: 300 },
  );
});
