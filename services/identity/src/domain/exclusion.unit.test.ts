import assert from "node:assert/strict";
import { test } from "node:test";
import { consentPayload, generateKeyPair, memberIdOf, redeemPayload, sign } from "@pot/mechanism";
import {
  controlledLineageExclusions,
  decideMember,
  evolveMember,
  initialMemberState,
  type MemberCommand,
  type MemberState,
} from "./member.js";

const NOW = 1_800_000_000_000;
const agreement = { version: 1, hash: new Uint8Array(32).fill(3) };

function apply(state: MemberState, command: MemberCommand): MemberState {
  return decideMember(command, state).reduce(evolveMember, state);
}

function controllerWithTwoControlled() {
  const keys = generateKeyPair();
  const id = memberIdOf(keys.publicKey);
  let state = apply(initialMemberState(id), {
    type: "Admit",
    memberId: id,
    publicKey: keys.publicKey,
    kind: "sponsored",
    sponsorIds: ["a", "b"],
    controllerId: "",
    gameId: "g0",
    consent: undefined,
    displayName: "",
    admittedAt: NOW,
  });
  state = apply(state, { type: "GrantCredits", gameId: "g1", count: 2, expiresAtMs: NOW + 1e9 });
  const controlled: string[] = [];
  for (const requestId of ["r1", "r2"]) {
    const candidate = generateKeyPair();
    const terms = {
      candidatePublicKey: candidate.publicKey,
      agreementVersion: 1,
      agreementHash: agreement.hash,
      proposalId: "",
      controllerId: id,
      expiresAtMs: NOW + 60_000,
    };
    state = apply(state, {
      type: "RedeemCredit",
      networkId: "net-a",
      requestId,
      consent: { ...terms, signature: sign(consentPayload("net-a", terms), candidate.secretKey) },
      signature: sign(redeemPayload("net-a", id, candidate.publicKey, requestId), keys.secretKey),
      agreement,
      candidateExists: false,
      now: NOW + 1,
    });
    controlled.push(memberIdOf(candidate.publicKey));
  }
  return { id, state, controlled };
}

test("a member's state records the identities its credits admitted, in order", () => {
  const { state, controlled } = controllerWithTwoControlled();
  assert.ok(state.status === "active");
  assert.deepEqual(state.controlledIds, controlled);
});

test("excluding a controller excludes its controlled lineage; an active member brings about nothing", () => {
  const { id, state, controlled } = controllerWithTwoControlled();
  assert.deepEqual(controlledLineageExclusions(state, NOW + 5), [], "not excluded: nothing follows");
  const excluded = apply(state, { type: "Exclude", reason: "found to be a Sybil", now: NOW + 5 });
  assert.equal(excluded.status, "excluded");
  const follows = controlledLineageExclusions(excluded, NOW + 5);
  assert.deepEqual(
    follows.map((f) => f.memberId),
    controlled,
  );
  for (const { command } of follows) {
    assert.deepEqual(command, { type: "Exclude", reason: `controlled by excluded member ${id}`, now: NOW + 5 });
  }
});
