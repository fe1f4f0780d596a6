import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  commitmentOf,
  commitPayload,
  DEFAULT_POLICY,
  generateKeyPair,
  IllegalStateError,
  memberIdOf,
  PermissionError,
  revealPayload,
  sign,
  ValidationError,
  type KeyPair,
  type MoveName,
  NO_OPENING,
} from "@pot/mechanism";
import { decideGame, evolveGame, initialGameState, type GameCommand, type GameEvent, type GameState } from "./game.js";

const GAME = "6f1c2a4e-1111-4a4a-8b8b-000000000001";
const NETWORK = "net-test";
const OPENED = 1_700_000_000_000;
const rules = DEFAULT_POLICY.admission;

interface Player {
  keys: KeyPair;
  id: string;
  nonce: Uint8Array;
}

function player(): Player {
  const keys = generateKeyPair();
  return { keys, id: memberIdOf(keys.publicKey), nonce: crypto.getRandomValues(new Uint8Array(32)) };
}

function fold(events: readonly GameEvent[], state: GameState = initialGameState(GAME)): GameState {
  return events.reduce(evolveGame, state);
}

function apply(state: GameState, command: GameCommand): { state: GameState; events: GameEvent[] } {
  const events = decideGame(command, state);
  return { state: fold(events, state), events };
}

function started(a: Player, b: Player): GameState {
  const consentKeys = generateKeyPair();
  return apply(initialGameState(GAME), {
    type: "StartGame",
    gameId: GAME,
    sponsorA: { memberId: a.id, publicKey: a.keys.publicKey },
    sponsorB: { memberId: b.id, publicKey: b.keys.publicKey },
    action: {
      type: "admission",
      candidatePublicKey: consentKeys.publicKey,
      agreementVersion: 1,
      agreementHash: new Uint8Array(32),
      consentProposalId: GAME,
      consentControllerId: "",
      consentExpiresAtMs: OPENED + 1,
      consentSignature: new Uint8Array(64),
    },
    policy: DEFAULT_POLICY,
    openedAt: OPENED,
    stakePeriodMs: DEFAULT_POLICY.admission.stakePeriodMs,
    opening: NO_OPENING,
  }).state;
}

function commit(p: Player, move: MoveName, now = OPENED + 1): GameCommand {
  const commitment = commitmentOf(GAME, p.id, move, p.nonce);
  return {
    type: "CommitMove",
    networkId: NETWORK,
    memberId: p.id,
    commitment,
    signature: sign(commitPayload(NETWORK, GAME, p.id, commitment), p.keys.secretKey),
    now,
  };
}

function reveal(p: Player, move: MoveName, now = OPENED + 2): GameCommand {
  return {
    type: "RevealMove",
    networkId: NETWORK,
    memberId: p.id,
    move,
    nonce: p.nonce,
    signature: sign(revealPayload(NETWORK, GAME, p.id, move, p.nonce), p.keys.secretKey),
    now,
  };
}

function play(moveA: MoveName, moveB: MoveName) {
  const a = player();
  const b = player();
  let state = started(a, b);
  state = apply(state, commit(a, moveA)).state;
  state = apply(state, commit(b, moveB)).state;
  state = apply(state, reveal(a, moveA)).state;
  const last = apply(state, reveal(b, moveB));
  return { a, b, state: last.state, events: last.events };
}

describe("game decider: outcomes follow the policy table", () => {
  test("both cooperate: the candidate is admitted, nobody is suspended", () => {
    const { events } = play("cooperate", "cooperate");
    assert.deepEqual(
      events.map((e) => e.type),
      ["MoveRevealed", "GameResolved"],
    );
    const resolved = events[1];
    assert.ok(resolved?.type === "GameResolved");
    assert.equal(resolved.outcome, "both-cooperated");
    assert.equal(resolved.admitted, true);
    assert.deepEqual(resolved.credits, []);
    assert.deepEqual(resolved.suspensions, []);
  });

  test("A defects on a cooperator: A gets the policy's credits, B is suspended for the penalty period", () => {
    const { a, b, events } = play("defect", "cooperate");
    const resolved = events.at(-1);
    assert.ok(resolved?.type === "GameResolved");
    assert.equal(resolved.outcome, "a-defected");
    assert.equal(resolved.admitted, false);
    assert.deepEqual(resolved.credits, [
      {
        memberId: a.id,
        count: rules.defectorCredits,
        expiresAtMs: OPENED + 2 + DEFAULT_POLICY.creditTtlMs,
        cap: { count: DEFAULT_POLICY.growth.creditCap, windowMs: DEFAULT_POLICY.growth.creditCapWindowMs },
      },
    ]);
    assert.deepEqual(resolved.suspensions, [{ memberId: b.id, untilMs: OPENED + 2 + rules.penaltyPeriodMs }]);
  });

  test("B defects on a cooperator: mirror image", () => {
    const { a, b, events } = play("cooperate", "defect");
    const resolved = events.at(-1);
    assert.ok(resolved?.type === "GameResolved");
    assert.equal(resolved.outcome, "b-defected");
    assert.equal(resolved.credits[0]?.memberId, b.id);
    assert.equal(resolved.suspensions[0]?.memberId, a.id);
  });

  test("both defect: both suspended, no credits, no admission", () => {
    const { a, b, events } = play("defect", "defect");
    const resolved = events.at(-1);
    assert.ok(resolved?.type === "GameResolved");
    assert.equal(resolved.outcome, "both-defected");
    assert.deepEqual(resolved.credits, []);
    assert.deepEqual(resolved.suspensions.map((s) => s.memberId).sort(), [a.id, b.id].sort());
  });
});

describe("game decider: commit-reveal", () => {
  test("a reveal before both commitments exist is refused and records nothing", () => {
    const a = player();
    const b = player();
    let state = started(a, b);
    state = apply(state, commit(a, "cooperate")).state;
    assert.throws(() => decideGame(reveal(a, "cooperate"), state), IllegalStateError);
  });

  test("a reveal with another move or nonce does not open the commitment", () => {
    const a = player();
    const b = player();
    let state = started(a, b);
    state = apply(state, commit(a, "cooperate")).state;
    state = apply(state, commit(b, "cooperate")).state;
    assert.throws(() => decideGame(reveal(a, "defect"), state), ValidationError);
    const other = { ...a, nonce: new Uint8Array(32).fill(7) };
    assert.throws(() => decideGame(reveal(other, "cooperate"), state), ValidationError);
  });

  test("a commitment signed by another key, or by a non-sponsor, is refused with PermissionError", () => {
    const a = player();
    const b = player();
    const state = started(a, b);
    const forged = { ...commit(a, "cooperate"), signature: sign(new Uint8Array([1]), b.keys.secretKey) };
    assert.throws(() => decideGame(forged, state), PermissionError);
    assert.throws(() => decideGame(commit(player(), "cooperate"), state), PermissionError);
  });

  test("a commitment or a reveal signed for another network is refused with PermissionError", () => {
    const a = player();
    const b = player();
    let state = started(a, b);
    const commitment = commitmentOf(GAME, a.id, "cooperate", a.nonce);
    const foreign = {
      ...commit(a, "cooperate"),
      signature: sign(commitPayload("other-net", GAME, a.id, commitment), a.keys.secretKey),
    };
    assert.throws(
      () => decideGame(foreign, state),
      (e: unknown) => e instanceof PermissionError && /'net-test'/.test(e.message),
    );
    state = apply(state, commit(a, "cooperate")).state;
    state = apply(state, commit(b, "cooperate")).state;
    const foreignReveal = {
      ...reveal(a, "cooperate"),
      signature: sign(revealPayload("other-net", GAME, a.id, "cooperate", a.nonce), a.keys.secretKey),
    };
    assert.throws(() => decideGame(foreignReveal, state), PermissionError);
    assert.equal(decideGame(reveal(a, "cooperate"), state)[0]?.type, "MoveRevealed");
  });

  test("a retried commitment is a no-op; a different second commitment is refused", () => {
    const a = player();
    const b = player();
    const command = commit(a, "cooperate");
    const state = apply(started(a, b), command).state;
    assert.deepEqual(decideGame(command, state), []);
    assert.throws(() => decideGame(commit({ ...a, nonce: new Uint8Array(32) }, "defect"), state), IllegalStateError);
  });

  test("a commitment after the commit deadline is refused", () => {
    const a = player();
    const b = player();
    assert.throws(
      () => decideGame(commit(a, "cooperate", OPENED + rules.commitWindowMs + 1), started(a, b)),
      IllegalStateError,
    );
  });
});

describe("game decider: deadlines and no-shows", () => {
  test("nobody commits: both are no-shows, suspended for the no-show penalty", () => {
    const a = player();
    const b = player();
    const now = OPENED + rules.commitWindowMs + 1;
    const { events } = apply(started(a, b), { type: "Tick", now });
    const resolved = events[0];
    assert.ok(resolved?.type === "GameResolved");
    assert.equal(resolved.outcome, "no-show");
    assert.deepEqual([...resolved.noShowIds].sort(), [a.id, b.id].sort());
    assert.ok(resolved.suspensions.every((s) => s.untilMs === now + rules.noShowPenaltyMs));
  });

  test("B never reveals: only B is a no-show and A is not penalised", () => {
    const a = player();
    const b = player();
    let state = started(a, b);
    state = apply(state, commit(a, "defect")).state;
    state = apply(state, commit(b, "defect")).state;
    state = apply(state, reveal(a, "defect")).state;
    const now = OPENED + 1 + rules.revealWindowMs + 1;
    const resolved = decideGame({ type: "Tick", now }, state)[0];
    assert.ok(resolved?.type === "GameResolved");
    assert.deepEqual(resolved.noShowIds, [b.id]);
    assert.deepEqual(resolved.suspensions, [{ memberId: b.id, untilMs: now + rules.noShowPenaltyMs }]);
    assert.ok(rules.noShowPenaltyMs >= rules.penaltyPeriodMs, "not revealing is never cheaper than both defecting");
  });

  test("a tick before any deadline decides nothing", () => {
    const a = player();
    const b = player();
    assert.deepEqual(decideGame({ type: "Tick", now: OPENED + 5 }, started(a, b)), []);
  });

  test("a redelivered StartGame is a no-op", () => {
    const a = player();
    const b = player();
    const state = started(a, b);
    assert.deepEqual(
      decideGame(
        {
          type: "StartGame",
          gameId: GAME,
          sponsorA: { memberId: a.id, publicKey: a.keys.publicKey },
          sponsorB: { memberId: b.id, publicKey: b.keys.publicKey },
          action: { type: "generic", kind: "x", payload: new Uint8Array() },
          policy: DEFAULT_POLICY,
          openedAt: OPENED,
          stakePeriodMs: undefined,
          opening: NO_OPENING,
        },
        state,
      ),
      [],
    );
  });
});

test("GameStarted records the stake period the opening locked (a retargeted one), and only when the opening says", () => {
  const a = player();
  const b = player();
  const start = (stakePeriodMs: number | undefined) =>
    decideGame(
      {
        type: "StartGame",
        gameId: GAME,
        sponsorA: { memberId: a.id, publicKey: a.keys.publicKey },
        sponsorB: { memberId: b.id, publicKey: b.keys.publicKey },
        action: { type: "generic", kind: "x", payload: new Uint8Array() },
        policy: {
          ...DEFAULT_POLICY,
          actionKinds: [{ kind: "x", rules: { ...DEFAULT_POLICY.admission, defectorCredits: 0 } }],
        },
        openedAt: OPENED,
        stakePeriodMs,
        opening: NO_OPENING,
      },
      initialGameState(GAME),
    );
  // 10.5 days: a period retargeted away from the policy's own 7.
  const [retargeted] = start(10.5 * 86_400_000);
  assert.equal(retargeted?.type, "GameStarted");
  assert.equal(retargeted.type === "GameStarted" && retargeted.stakePeriodMs, 10.5 * 86_400_000);
  const [unknown] = start(undefined);
  assert.ok(unknown?.type === "GameStarted" && !("stakePeriodMs" in unknown), "an old opening records none");
});
