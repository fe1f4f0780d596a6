import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { generateKeyPair, IllegalStateError, ValidationError } from "@pot/mechanism";
import { decideMember, evolveMember, initialMemberState, availableCredits } from "./member.js";
import { decideNetwork, evolveNetwork, initialNetworkState } from "./network.js";

const agreement = { hash: new Uint8Array(32).fill(3), uri: "https://example.org/agreement/v1" };
const genesis = () => [0, 1].map((i) => ({ publicKey: generateKeyPair().publicKey, displayName: `g${i}` }));

describe("network decider", () => {
  test("bootstrap records the genesis members and agreement version 1", () => {
    const events = decideNetwork(
      { type: "Bootstrap", members: genesis(), agreement, force: false },
      initialNetworkState,
    );
    assert.equal(events.length, 1);
    assert.ok(events[0]?.type === "NetworkBootstrapped");
    assert.equal(events[0].agreement.version, 1);
  });

  test("a second bootstrap is refused unless forced", () => {
    const state = decideNetwork(
      { type: "Bootstrap", members: genesis(), agreement, force: false },
      initialNetworkState,
    ).reduce(evolveNetwork, initialNetworkState);
    assert.throws(
      () => decideNetwork({ type: "Bootstrap", members: genesis(), agreement, force: false }, state),
      IllegalStateError,
    );
    assert.equal(decideNetwork({ type: "Bootstrap", members: genesis(), agreement, force: true }, state).length, 1);
  });

  test("bad genesis input names the field", () => {
    const [first] = genesis();
    assert.throws(
      () =>
        decideNetwork({ type: "Bootstrap", members: [first!, first!], agreement, force: false }, initialNetworkState),
      (e: unknown) => e instanceof ValidationError && e.field === "members[1].public_key",
    );
    assert.throws(
      () =>
        decideNetwork(
          { type: "Bootstrap", members: genesis(), agreement: { ...agreement, hash: new Uint8Array(3) }, force: false },
          initialNetworkState,
        ),
      (e: unknown) => e instanceof ValidationError && e.field === "agreement.hash",
    );
  });
});

describe("member decider", () => {
  const admit = {
    type: "Admit" as const,
    memberId: "m",
    publicKey: new Uint8Array(32),
    kind: "sponsored" as const,
    sponsorIds: ["a", "b"],
    controllerId: "",
    gameId: "g",
    consent: undefined,
    displayName: "",
    admittedAt: 1,
  };

  test("admission is idempotent: a redelivered resolution admits nobody twice", () => {
    const state = decideMember(admit, initialMemberState("m")).reduce(evolveMember, initialMemberState("m"));
    assert.equal(state.status, "active");
    assert.deepEqual(decideMember(admit, state), []);
  });

  test("credits are granted once per game and expire", () => {
    let state = decideMember(admit, initialMemberState("m")).reduce(evolveMember, initialMemberState("m"));
    const grant = { type: "GrantCredits" as const, gameId: "g1", count: 2, expiresAtMs: 100, grantedAt: 1 };
    state = decideMember(grant, state).reduce(evolveMember, state);
    assert.deepEqual(decideMember(grant, state), []);
    assert.equal(availableCredits(state, 99), 2);
    assert.equal(availableCredits(state, 100), 0);
  });
});
