import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  actionDigest,
  answerPayload,
  consentPayload,
  DEFAULT_POLICY,
  generateKeyPair,
  IllegalStateError,
  memberIdOf,
  NotFoundError,
  PermissionError,
  proposePayload,
  sign,
  type ActionSpec,
  type KeyPair,
} from "@pot/mechanism";
import {
  decideLedger,
  evolveLedger,
  initialLedgerState,
  unavailability,
  type LedgerCommand,
  type LedgerState,
} from "./ledger.js";

const NOW = 1_700_000_000_000;
let counter = 0;
const uuid = () => `00000000-0000-4000-8000-${String(++counter).padStart(12, "0")}`;

function member() {
  const keys = generateKeyPair();
  return { keys, id: memberIdOf(keys.publicKey) };
}

function run(state: LedgerState, command: LedgerCommand): LedgerState {
  return decideLedger(command, state).reduce(evolveLedger, state);
}

function admission(): ActionSpec {
  const candidate: KeyPair = generateKeyPair();
  const hash = new Uint8Array(32).fill(1);
  return {
    type: "admission",
    candidatePublicKey: candidate.publicKey,
    agreementVersion: 1,
    agreementHash: hash,
    consentSignature: sign(consentPayload(candidate.publicKey, 1, hash), candidate.secretKey),
  };
}

function network(...members: { keys: KeyPair; id: string }[]): LedgerState {
  let state = run(initialLedgerState, { type: "AdoptPolicy", policy: DEFAULT_POLICY });
  state = run(state, {
    type: "AdoptAgreement",
    agreement: { version: 1, hash: new Uint8Array(32).fill(1), uri: "https://example.org/a" },
  });
  for (const m of members) state = run(state, { type: "RegisterSponsor", memberId: m.id, publicKey: m.keys.publicKey });
  return state;
}

function propose(a: { keys: KeyPair; id: string }, b: { id: string }, proposalId = uuid(), now = NOW): LedgerCommand {
  const action = admission();
  return {
    type: "Propose",
    proposalId,
    proposerId: a.id,
    partnerId: b.id,
    action,
    signature: sign(proposePayload(proposalId, a.id, b.id, actionDigest(action)), a.keys.secretKey),
    now,
  };
}

function accept(b: { keys: KeyPair; id: string }, proposalId: string, now = NOW + 1): LedgerCommand {
  return {
    type: "Accept",
    proposalId,
    memberId: b.id,
    signature: sign(answerPayload("accept", proposalId, b.id), b.keys.secretKey),
    now,
  };
}

describe("ledger decider", () => {
  test("accepting a proposal opens a game and locks both stakes for the stake period", () => {
    const a = member();
    const b = member();
    const p = propose(a, b);
    let state = run(network(a, b), p);
    const events = decideLedger(accept(b, (p as { proposalId: string }).proposalId), state);
    assert.equal(events.length, 1);
    const opened = events[0];
    assert.ok(opened?.type === "GameOpened");
    assert.equal(opened.stakeLockedUntil, NOW + 1 + DEFAULT_POLICY.admission.stakePeriodMs);
    state = events.reduce(evolveLedger, state);
    assert.match(unavailability(state, a.id, NOW + 2) ?? "", /playing game/);
    assert.match(unavailability(state, b.id, NOW + 2) ?? "", /playing game/);
  });

  test("the stake stays locked after settlement until the stake period ends", () => {
    const a = member();
    const b = member();
    const p = propose(a, b) as { proposalId: string } & LedgerCommand;
    let state = run(run(network(a, b), p), accept(b, p.proposalId));
    state = run(state, { type: "SettleGame", gameId: p.proposalId, suspensions: [], released: false });
    const until = NOW + 1 + DEFAULT_POLICY.admission.stakePeriodMs;
    assert.match(unavailability(state, a.id, until - 1) ?? "", /staked/);
    assert.equal(unavailability(state, a.id, until), undefined);
  });

  test("a member in an open game cannot open a second one", () => {
    const a = member();
    const b = member();
    const c = member();
    const p1 = propose(a, b) as { proposalId: string } & LedgerCommand;
    const p2 = propose(c, a) as { proposalId: string } & LedgerCommand;
    let state = run(run(network(a, b, c), p1), p2);
    state = run(state, accept(b, p1.proposalId));
    assert.throws(() => decideLedger(accept(a, p2.proposalId), state), IllegalStateError);
  });

  test("the same pair cannot play again during the pair cool-down", () => {
    const a = member();
    const b = member();
    const p1 = propose(a, b) as { proposalId: string } & LedgerCommand;
    let state = run(run(network(a, b), p1), accept(b, p1.proposalId));
    state = run(state, { type: "SettleGame", gameId: p1.proposalId, suspensions: [], released: false });
    const later = NOW + DEFAULT_POLICY.admission.stakePeriodMs + 10;
    assert.throws(() => decideLedger(propose(a, b, uuid(), later), state), /recently/);
  });

  test("only the partner can accept, with its own signature", () => {
    const a = member();
    const b = member();
    const c = member();
    const p = propose(a, b) as { proposalId: string } & LedgerCommand;
    const state = run(network(a, b, c), p);
    assert.throws(() => decideLedger(accept(c, p.proposalId), state), PermissionError);
    const forged = { ...accept(b, p.proposalId), signature: sign(new Uint8Array([9]), b.keys.secretKey) };
    assert.throws(() => decideLedger(forged, state), PermissionError);
  });

  test("a proposal from an unknown member or with a forged signature records nothing", () => {
    const a = member();
    const b = member();
    const stranger = member();
    const state = network(a, b);
    assert.throws(() => decideLedger(propose(stranger, b), state), NotFoundError);
    const forged = { ...(propose(a, b) as object), signature: new Uint8Array(64) } as LedgerCommand;
    assert.throws(() => decideLedger(forged, state), PermissionError);
  });

  test("a consent to an outdated agreement is refused, naming both versions", () => {
    const a = member();
    const b = member();
    let state = network(a, b);
    state = run(state, {
      type: "AdoptAgreement",
      agreement: { version: 2, hash: new Uint8Array(32).fill(2), uri: "https://example.org/b" },
    });
    assert.throws(() => decideLedger(propose(a, b), state), /agreement v1, but the current agreement is v2/);
  });

  test("excluding a member cancels its pending proposals and open games and suspends its sponsors", () => {
    const a = member();
    const b = member();
    const c = member();
    const s = member();
    const open = propose(a, b) as { proposalId: string } & LedgerCommand;
    const pending = propose(c, a) as { proposalId: string } & LedgerCommand;
    let state = run(run(run(network(a, b, c, s), open), pending), accept(b, open.proposalId));
    const events = decideLedger(
      { type: "ExcludeSponsor", memberId: a.id, accountableSponsorIds: [s.id], now: NOW + 5 },
      state,
    );
    const excluded = events[0];
    assert.ok(excluded?.type === "SponsorExcluded");
    assert.deepEqual([...excluded.cancelledProposalIds].sort(), [open.proposalId, pending.proposalId].sort());
    assert.deepEqual(excluded.suspensions, [
      { memberId: s.id, untilMs: NOW + 5 + DEFAULT_POLICY.exclusionSponsorPenaltyMs },
    ]);
    state = events.reduce(evolveLedger, state);
    assert.match(unavailability(state, a.id, NOW + 6) ?? "", /excluded/);
    assert.match(unavailability(state, s.id, NOW + 6) ?? "", /suspended/);
  });

  test("no game opens before a policy is adopted", () => {
    const a = member();
    const b = member();
    let state = initialLedgerState;
    for (const m of [a, b])
      state = run(state, { type: "RegisterSponsor", memberId: m.id, publicKey: m.keys.publicKey });
    assert.throws(() => decideLedger(propose(a, b), state), /no policy/);
  });

  test("a redelivered settlement or registration is a no-op", () => {
    const a = member();
    const b = member();
    const p = propose(a, b) as { proposalId: string } & LedgerCommand;
    let state = run(run(network(a, b), p), accept(b, p.proposalId));
    const settle: LedgerCommand = {
      type: "SettleGame",
      gameId: p.proposalId,
      suspensions: [{ memberId: a.id, untilMs: NOW + 99 }],
      released: false,
    };
    state = run(state, settle);
    assert.deepEqual(decideLedger(settle, state), []);
    assert.deepEqual(decideLedger({ type: "RegisterSponsor", memberId: a.id, publicKey: a.keys.publicKey }, state), []);
  });
});
