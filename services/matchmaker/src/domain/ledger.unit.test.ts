import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  actionDigest,
  AlreadyExistsError,
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
  type GameOutcome,
  type KeyPair,
  type Policy,
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

const NETWORK = "net-test";
const CONSENT_TTL = 30 * 24 * 3600_000;
const CONSENT_EXPIRY = NOW + CONSENT_TTL;

/** A fresh candidate's consent to be admitted by proposal `proposalId` in `networkId` until `expiresAtMs`. */
function admission(
  proposalId: string,
  options: { networkId?: string; expiresAtMs?: number; controllerId?: string } = {},
): ActionSpec {
  const candidate: KeyPair = generateKeyPair();
  const hash = new Uint8Array(32).fill(1);
  const controllerId = options.controllerId ?? "";
  const terms = {
    candidatePublicKey: candidate.publicKey,
    agreementVersion: 1,
    agreementHash: hash,
    proposalId: controllerId ? "" : proposalId,
    controllerId,
    expiresAtMs: options.expiresAtMs ?? CONSENT_EXPIRY,
  };
  return {
    type: "admission",
    candidatePublicKey: candidate.publicKey,
    agreementVersion: 1,
    agreementHash: hash,
    consentProposalId: terms.proposalId,
    consentControllerId: controllerId,
    consentExpiresAtMs: terms.expiresAtMs,
    consentSignature: sign(consentPayload(options.networkId ?? NETWORK, terms), candidate.secretKey),
  };
}

function network(...members: { keys: KeyPair; id: string }[]): LedgerState {
  return networkUnder(DEFAULT_POLICY, ...members);
}

function networkUnder(policy: Policy, ...members: { keys: KeyPair; id: string }[]): LedgerState {
  let state = run(initialLedgerState, { type: "AdoptPolicy", policy });
  state = run(state, {
    type: "AdoptAgreement",
    agreement: { version: 1, hash: new Uint8Array(32).fill(1), uri: "https://example.org/a" },
  });
  for (const m of members) state = run(state, { type: "RegisterSponsor", memberId: m.id, publicKey: m.keys.publicKey });
  return state;
}

function propose(
  a: { keys: KeyPair; id: string },
  b: { id: string },
  proposalId = uuid(),
  now = NOW,
  action = admission(proposalId, { expiresAtMs: now + CONSENT_TTL }),
  networkId = NETWORK,
): LedgerCommand {
  return {
    type: "Propose",
    networkId: NETWORK,
    proposalId,
    proposerId: a.id,
    partnerId: b.id,
    action,
    signature: sign(proposePayload(networkId, proposalId, a.id, b.id, actionDigest(action)), a.keys.secretKey),
    now,
  };
}

function accept(b: { keys: KeyPair; id: string }, proposalId: string, now = NOW + 1): LedgerCommand {
  return answer("Accept", b, proposalId, now);
}

function answer(
  type: "Accept" | "Decline" | "Cancel",
  m: { keys: KeyPair; id: string },
  proposalId: string,
  now = NOW + 1,
): LedgerCommand {
  const kind = type === "Accept" ? "accept" : type === "Decline" ? "decline" : "cancel";
  return {
    type,
    networkId: NETWORK,
    proposalId,
    memberId: m.id,
    signature: sign(answerPayload(NETWORK, kind, proposalId, m.id), m.keys.secretKey),
    now,
  };
}

const TTL = DEFAULT_POLICY.proposalTtlMs;

/** The state after an unrelated proposal between c and d at `now`: an event that moves the ledger's clock. */
function later(state: LedgerState, c: { keys: KeyPair; id: string }, d: { id: string }, now: number): LedgerState {
  const next = run(state, propose(c, d, uuid(), now));
  assert.equal(next.clock, now);
  return next;
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

  // A rate target that halves or doubles the stake period at most per interval, between 1 h and the default 3 days.
  const TARGETED: Policy = {
    ...DEFAULT_POLICY,
    rateTarget: {
      admissionsPerInterval: 10,
      intervalMs: 86_400_000,
      maxStepPercent: 100,
      minStakePeriodMs: 3_600_000,
      maxStakePeriodMs: DEFAULT_POLICY.admission.stakePeriodMs,
    },
  };
  const HALF = DEFAULT_POLICY.admission.stakePeriodMs / 2;

  test("a retargeted stake period, once adopted, locks the stakes of admission games opened after it", () => {
    const a = member();
    const b = member();
    const version = DEFAULT_POLICY.version;
    let state = networkUnder(TARGETED, a, b);
    const adopt = { type: "AdoptStakePeriod" as const, policyVersion: version, interval: 5, stakePeriodMs: HALF };
    assert.deepEqual(decideLedger({ ...adopt, policyVersion: version + 1 }, state), [], "another policy's: ignored");
    state = run(state, adopt);
    assert.deepEqual(decideLedger(adopt, state), [], "a redelivered retarget: nothing new");
    assert.deepEqual(decideLedger({ ...adopt, interval: 4 }, state), [], "an older interval: nothing new");
    const p = propose(a, b);
    state = run(state, p);
    const [opened] = decideLedger(accept(b, (p as { proposalId: string }).proposalId), state);
    assert.ok(opened?.type === "GameOpened");
    assert.equal(opened.stakeLockedUntil, NOW + 1 + HALF);
    // A newly adopted policy starts again from its own stake period.
    const fresh = run(run(networkUnder(TARGETED, a, b), adopt), {
      type: "AdoptPolicy",
      policy: { ...DEFAULT_POLICY, version: version + 1 },
    });
    assert.equal(fresh.stakePeriod, undefined);
  });

  test("a forged retarget is refused: no rate target, outside the policy's bounds, a larger step than the policy's", () => {
    const adopt = {
      type: "AdoptStakePeriod" as const,
      policyVersion: DEFAULT_POLICY.version,
      interval: 5,
      stakePeriodMs: HALF,
    };
    assert.throws(() => decideLedger(adopt, network()), { name: "ForgedEventError", message: /no rate target/ });
    const state = networkUnder(TARGETED);
    assert.throws(() => decideLedger({ ...adopt, stakePeriodMs: 1 }, state), {
      name: "ForgedEventError",
      message: /outside the policy's/,
    });
    assert.throws(() => decideLedger({ ...adopt, stakePeriodMs: 3_600_000 }, state), {
      name: "ForgedEventError",
      message: /larger step/,
    });
    const halved = run(state, adopt);
    assert.throws(() => decideLedger({ ...adopt, interval: 6, stakePeriodMs: 3_600_000 }, halved), /larger step/);
    assert.equal(decideLedger({ ...adopt, interval: 6, stakePeriodMs: HALF / 2 }, halved).length, 1);
  });

  test("the stake stays locked after settlement until the stake period ends", () => {
    const a = member();
    const b = member();
    const p = propose(a, b) as { proposalId: string } & LedgerCommand;
    let state = run(run(network(a, b), p), accept(b, p.proposalId));
    state = run(state, {
      type: "SettleGame",
      gameId: p.proposalId,
      sponsorIds: [a.id, b.id],
      suspensions: [],
      released: false,
    });
    const until = NOW + 1 + DEFAULT_POLICY.admission.stakePeriodMs;
    assert.match(unavailability(state, a.id, until - 1) ?? "", /staked/);
    assert.equal(unavailability(state, a.id, until), undefined);
  });

  test("a resolution whose amounts are not the policy's is refused as forged; the policy's own settles", () => {
    const a = member();
    const b = member();
    const p = propose(a, b) as Extract<LedgerCommand, { type: "Propose" }>;
    const state = run(run(network(a, b), p), accept(b, p.proposalId));
    const resolvedAt = NOW + 10;
    const award = {
      memberId: a.id,
      count: DEFAULT_POLICY.admission.defectorCredits,
      expiresAtMs: resolvedAt + DEFAULT_POLICY.creditTtlMs,
      cap: { count: DEFAULT_POLICY.growth.creditCap, windowMs: DEFAULT_POLICY.growth.creditCapWindowMs },
    };
    const settle = {
      type: "SettleGame" as const,
      gameId: p.proposalId,
      sponsorIds: [a.id, b.id],
      suspensions: [{ memberId: b.id, untilMs: resolvedAt + DEFAULT_POLICY.admission.penaltyPeriodMs }],
      released: false,
      resolution: {
        action: p.action,
        outcome: "a-defected" as GameOutcome,
        resolvedAt,
        noShowIds: [],
        credits: [award],
      },
    };
    assert.equal(decideLedger(settle, state).length, 1);
    const forged = (change: Partial<typeof settle>, message: RegExp) =>
      assert.throws(() => decideLedger({ ...settle, ...change }, state), { name: "ForgedEventError", message });
    forged(
      { resolution: { ...settle.resolution, credits: [{ ...award, count: 100 }] } },
      /100 credits to .* is not what the policy gives/,
    );
    forged(
      { resolution: { ...settle.resolution, credits: [{ ...award, cap: { count: 1000, windowMs: 1 } }] } },
      /cap 1000 per 1 ms/,
    );
    forged(
      { suspensions: [{ memberId: b.id, untilMs: resolvedAt + 1e12 }] },
      /suspension of .* is not what the policy gives/,
    );
    forged({ suspensions: [] }, /suspension missing/);
    forged(
      { resolution: { ...settle.resolution, outcome: "cancelled" } },
      /outcome cancelled, yet the stakes are not released/,
    );
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
    state = run(state, {
      type: "SettleGame",
      gameId: p1.proposalId,
      sponsorIds: [a.id, b.id],
      suspensions: [],
      released: false,
    });
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

  test("a consent binds its proposal, its network and its expiry: any other is refused, precisely", () => {
    const a = member();
    const b = member();
    const state = network(a, b);
    const id = uuid();
    assert.equal(decideLedger(propose(a, b, id), state).length, 1);
    // The consent of an honest candidate, taken from another proposal (it is public on the stream).
    const other = uuid();
    assert.throws(
      () => decideLedger(propose(a, b, id, NOW, admission(other)), state),
      (e: unknown) =>
        e instanceof PermissionError && e.message.includes(`consented to proposal ${other}, not to proposal ${id}`),
    );
    assert.throws(
      () => decideLedger(propose(a, b, id, NOW, admission(id, { controllerId: a.id })), state),
      (e: unknown) => e instanceof PermissionError && e.message.includes(`for a credit redeemed by member ${a.id}`),
    );
    assert.throws(
      () => decideLedger(propose(a, b, id, NOW, admission(id, { networkId: "another-net" })), state),
      (e: unknown) => e instanceof PermissionError && /consent signature does not verify.*'net-test'/.test(e.message),
    );
    assert.throws(
      () => decideLedger(propose(a, b, id, NOW, admission(id, { expiresAtMs: NOW })), state),
      (e: unknown) => e instanceof IllegalStateError && /consent expired at/.test(e.message),
    );
    assert.equal(decideLedger(propose(a, b, id, NOW, admission(id, { expiresAtMs: NOW + 1 })), state).length, 1);
  });

  test("a proposal or an answer signed for another network is refused", () => {
    const a = member();
    const b = member();
    const state = network(a, b);
    const id = uuid();
    assert.throws(
      () => decideLedger(propose(a, b, id, NOW, admission(id), "another-net"), state),
      (e: unknown) => e instanceof PermissionError && /proposer .* for network 'net-test'/.test(e.message),
    );
    const proposed = run(state, propose(a, b, id));
    const foreign = {
      ...(accept(b, id) as object),
      signature: sign(answerPayload("another-net", "accept", id, b.id), b.keys.secretKey),
    } as LedgerCommand;
    assert.throws(() => decideLedger(foreign, proposed), PermissionError);
    assert.equal(decideLedger(accept(b, id), proposed).length, 1);
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
      sponsorIds: [a.id, b.id],
      suspensions: [{ memberId: a.id, untilMs: NOW + 99 }],
      released: false,
    };
    state = run(state, settle);
    assert.deepEqual(decideLedger(settle, state), []);
    assert.deepEqual(decideLedger({ type: "RegisterSponsor", memberId: a.id, publicKey: a.keys.publicKey }, state), []);
  });
});

describe("ledger pruning", () => {
  test("a declined proposal is kept until its expiry, then dropped; its id cannot be proposed again", () => {
    const [a, b, c, d] = [member(), member(), member(), member()];
    const p = propose(a, b) as { proposalId: string } & LedgerCommand;
    let state = run(run(network(a, b, c, d), p), answer("Decline", b, p.proposalId));
    assert.deepEqual(decideLedger(answer("Decline", b, p.proposalId), state), [], "a redelivered decline is a no-op");
    state = later(state, c, d, NOW + TTL - 1);
    assert.equal(state.proposals.get(p.proposalId)?.status, "declined");
    state = later(state, c, d, NOW + TTL);
    assert.equal(state.proposals.has(p.proposalId), false);
    assert.equal(state.retiredProposals.get(p.proposalId), "declined");
    assert.throws(
      () => decideLedger(propose(a, b, p.proposalId, NOW + TTL + 1), state),
      (error: Error) =>
        error instanceof AlreadyExistsError &&
        error.message ===
          `proposal ${p.proposalId} was already used (it was declined and is closed): propose again with a new proposal id`,
    );
    assert.throws(
      () => decideLedger(answer("Decline", b, p.proposalId, NOW + TTL + 1), state),
      (error: Error) =>
        error instanceof IllegalStateError && error.message === `proposal ${p.proposalId} was declined and is closed`,
    );
    assert.throws(() => decideLedger(accept(b, p.proposalId, NOW + TTL + 1), state), IllegalStateError);
  });

  test("a pending proposal past its expiry is dropped by a later event; answers say it expired", () => {
    const [a, b, c, d] = [member(), member(), member(), member()];
    const p = propose(a, b) as { proposalId: string } & LedgerCommand;
    let state = run(network(a, b, c, d), p);
    state = later(state, c, d, NOW + TTL + 5);
    assert.equal(state.proposals.has(p.proposalId), false);
    assert.equal(state.retiredProposals.get(p.proposalId), "expired");
    for (const command of [
      accept(b, p.proposalId, NOW + TTL + 6),
      answer("Decline", b, p.proposalId, NOW + TTL + 6),
      answer("Cancel", a, p.proposalId, NOW + TTL + 6),
    ]) {
      assert.throws(() => decideLedger(command, state), {
        name: "IllegalStateError",
        message: `proposal ${p.proposalId} expired unanswered and is closed`,
      });
    }
    assert.throws(() => decideLedger(propose(a, b, p.proposalId, NOW + TTL + 6), state), /was already used/);
    assert.throws(() => decideLedger(accept(b, uuid(), NOW + TTL + 6), state), NotFoundError);
  });

  test("an accepted proposal is kept while its game is open, even past its expiry, and dropped at settlement", () => {
    const [a, b, c, d] = [member(), member(), member(), member()];
    const p = propose(a, b) as { proposalId: string } & LedgerCommand;
    let state = run(run(network(a, b, c, d), p), accept(b, p.proposalId));
    state = later(state, c, d, NOW + TTL + 10);
    assert.equal(state.proposals.get(p.proposalId)?.status, "accepted");
    assert.deepEqual(decideLedger(accept(b, p.proposalId, NOW + TTL + 11), state), [], "a redelivered accept");
    state = run(state, {
      type: "SettleGame",
      gameId: p.proposalId,
      sponsorIds: [a.id, b.id],
      suspensions: [],
      released: false,
    });
    assert.equal(state.proposals.has(p.proposalId), false);
    assert.equal(state.retiredProposals.get(p.proposalId), "played");
    assert.throws(() => decideLedger(propose(a, b, p.proposalId, NOW + TTL + 12), state), AlreadyExistsError);
    assert.throws(() => decideLedger(accept(b, p.proposalId, NOW + TTL + 12), state), {
      name: "IllegalStateError",
      message: `proposal ${p.proposalId} was accepted and its game has been settled`,
    });
  });

  test("a game settled before its proposal's expiry: the proposal goes once the clock passes the expiry", () => {
    const [a, b, c, d] = [member(), member(), member(), member()];
    const p = propose(a, b) as { proposalId: string } & LedgerCommand;
    let state = run(run(network(a, b, c, d), p), accept(b, p.proposalId));
    state = run(state, { type: "ExcludeSponsor", memberId: a.id, accountableSponsorIds: [], now: NOW + 2 });
    state = run(state, {
      type: "SettleGame",
      gameId: p.proposalId,
      sponsorIds: [a.id, b.id],
      suspensions: [],
      released: true,
    });
    assert.equal(state.proposals.get(p.proposalId)?.status, "accepted");
    state = later(state, c, d, NOW + TTL);
    assert.equal(state.retiredProposals.get(p.proposalId), "played");
    assert.equal(state.proposals.has(p.proposalId), false);
  });

  test("a pair cool-down is dropped once the clock has passed it, and the pair may play again", () => {
    const [a, b, c, d] = [member(), member(), member(), member()];
    const p = propose(a, b) as { proposalId: string } & LedgerCommand;
    let state = run(run(network(a, b, c, d), p), accept(b, p.proposalId));
    state = run(state, {
      type: "SettleGame",
      gameId: p.proposalId,
      sponsorIds: [a.id, b.id],
      suspensions: [],
      released: false,
    });
    const until = NOW + 1 + DEFAULT_POLICY.pairCooldownMs;
    state = later(state, c, d, until - 1);
    assert.equal(state.pairCooldowns.size, 1);
    assert.throws(() => decideLedger(propose(a, b, uuid(), until - 1), state), /recently/);
    state = later(state, c, d, until);
    assert.equal(state.pairCooldowns.size, 0);
    assert.equal(decideLedger(propose(a, b, uuid(), until), state)[0]?.type, "ProposalMade");
  });

  test("evolve returns a new state and leaves the one it was given as it was", () => {
    const [a, b, c, d] = [member(), member(), member(), member()];
    const p = propose(a, b) as { proposalId: string } & LedgerCommand;
    const before = run(run(network(a, b, c, d), p), answer("Decline", b, p.proposalId));
    const after = later(run(before, propose(c, a, uuid(), NOW + 2)), c, d, NOW + TTL);
    assert.equal(after.proposals.has(p.proposalId), false);
    assert.equal(before.proposals.get(p.proposalId)?.status, "declined");
    assert.equal(before.proposals.size, 1);
    assert.equal(before.retiredProposals.size, 0);
    assert.equal(before.clock, NOW);
  });

  test("a member's open game is found without scanning, and excluding it cancels that game", () => {
    const [a, b, c] = [member(), member(), member()];
    const p = propose(a, b) as { proposalId: string } & LedgerCommand;
    let state = run(run(network(a, b, c), p), accept(b, p.proposalId));
    assert.equal(unavailability(state, b.id, NOW + 2), `member ${b.id} is playing game ${p.proposalId}`);
    state = run(state, {
      type: "SettleGame",
      gameId: p.proposalId,
      sponsorIds: [a.id, b.id],
      suspensions: [],
      released: false,
    });
    assert.match(unavailability(state, b.id, NOW + 2) ?? "", /has staked in game/);
    const events = decideLedger(
      { type: "ExcludeSponsor", memberId: b.id, accountableSponsorIds: [], now: NOW + 3 },
      state,
    );
    assert.ok(events[0]?.type === "SponsorExcluded");
    assert.deepEqual(events[0].cancelledProposalIds, []);
  });
});
