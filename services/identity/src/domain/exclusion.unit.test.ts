import assert from "node:assert/strict";
import { test } from "node:test";
import {
  consentPayload,
  generateKeyPair,
  memberIdOf,
  operatorExcludePayload,
  PermissionError,
  redeemPayload,
  sign,
} from "@pot/mechanism";
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

const OPERATORS = [generateKeyPair(), generateKeyPair()];
const operators = { version: 2, keys: OPERATORS.map((k) => k.publicKey), threshold: 2 };

/** An Exclude signed by `signers` of the two operator keys (a quorum needs both). */
function operatorExclude(memberId: string, reason: string, now: number, signers = OPERATORS): MemberCommand {
  const payload = operatorExcludePayload("net", "req-1", memberId, reason);
  return {
    type: "Exclude",
    reason,
    now,
    authority: {
      kind: "operator",
      networkId: "net",
      requestId: "req-1",
      operators,
      signatures: signers.map((k) => ({ publicKey: k.publicKey, signature: sign(payload, k.secretKey) })),
    },
  };
}

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
  assert.deepEqual(controlledLineageExclusions(state, NOW + 5, undefined), [], "not excluded: nothing follows");
  const [event] = decideMember(operatorExclude(id, "found to be a Sybil", NOW + 5), state);
  assert.ok(event?.type === "MemberExcluded" && event.act);
  assert.equal(event.act.keysVersion, 2);
  assert.equal(event.act.rootMemberId, id);
  assert.equal(event.act.signatures.length, 2);
  const excluded = evolveMember(state, event);
  assert.equal(excluded.status, "excluded");
  const follows = controlledLineageExclusions(excluded, NOW + 5, event.act);
  assert.deepEqual(
    follows.map((f) => f.memberId),
    controlled,
  );
  for (const { command } of follows) {
    assert.deepEqual(command, {
      type: "Exclude",
      reason: `controlled by excluded member ${id}`,
      now: NOW + 5,
      authority: { kind: "lineage", cause: event.act },
    });
    // The lineage exclusion records the root's signed act.
    const [child] = decideMember(command, { ...excluded, status: "active", memberId: "c" } as MemberState);
    assert.ok(child?.type === "MemberExcluded");
    assert.deepEqual(child.act, event.act);
  }
});

test("an exclusion without a quorum of operator signatures is refused", () => {
  const { id, state } = controllerWithTwoControlled();
  assert.throws(() => decideMember(operatorExclude(id, "x", NOW, OPERATORS.slice(0, 1)), state), PermissionError);
  assert.throws(() => decideMember(operatorExclude(id, "x", NOW, []), state), /carries no operator signature/);
  const other = operatorExclude(id, "another reason", NOW);
  assert.ok(other.type === "Exclude" && other.authority.kind === "operator");
  assert.throws(() => decideMember({ ...other, reason: "x" }, state), /does not verify over this exclude payload/);
  const withoutKeys: MemberCommand = { ...other, authority: { ...other.authority, operators: undefined } };
  assert.throws(() => decideMember(withoutKeys, state), /no operator keys are known/);
});
