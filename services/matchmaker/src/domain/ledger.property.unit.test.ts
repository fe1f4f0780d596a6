import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  actionDigest,
  answerPayload,
  consentPayload,
  DEFAULT_POLICY,
  isPotError,
  keyPairFromSecret,
  memberIdOf,
  proposePayload,
  sign,
  type ActionSpec,
} from "@pot/mechanism";
import {
  decideLedger,
  evolveLedger,
  initialLedgerState,
  RETIRED_ID_HORIZON_MS,
  unavailability,
  type LedgerCommand,
  type LedgerEvent,
  type LedgerState,
} from "./ledger.js";

const DAY = 86_400_000;
const policy = {
  ...DEFAULT_POLICY,
  admission: { ...DEFAULT_POLICY.admission, stakePeriodMs: 3 * DAY },
  pairCooldownMs: 10 * DAY,
  proposalTtlMs: DAY,
};
const members = Array.from({ length: 5 }, (_, i) => {
  const keys = keyPairFromSecret(new Uint8Array(32).fill(i + 1));
  return { keys, id: memberIdOf(keys.publicKey) };
});
const candidate = keyPairFromSecret(new Uint8Array(32).fill(99));
const hash = new Uint8Array(32).fill(5);
const NETWORK = "net-test";
/** The candidate's consent to be admitted by proposal `proposalId` (a consent names one proposal). */
function actionFor(proposalId: string): ActionSpec {
  const terms = {
    candidatePublicKey: candidate.publicKey,
    agreementVersion: 1,
    agreementHash: hash,
    proposalId,
    controllerId: "",
    expiresAtMs: 4_000_000_000_000,
  };
  return {
    type: "admission",
    candidatePublicKey: candidate.publicKey,
    agreementVersion: 1,
    agreementHash: hash,
    consentProposalId: proposalId,
    consentControllerId: "",
    consentExpiresAtMs: terms.expiresAtMs,
    consentSignature: sign(consentPayload(NETWORK, terms), candidate.secretKey),
  };
}

/**
 * The state's content as plain, comparable values: persistent maps as entries sorted by key, queues as
 * arrays (assert.deepEqual on immutable-js objects would compare trie internals and cached hashes).
 */
function plain(state: LedgerState) {
  const entries = <V>(map: Iterable<[string, V]>) => [...map].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  return {
    ...state,
    slots: entries(state.slots),
    proposals: entries(state.proposals),
    openGames: entries(state.openGames),
    pairCooldowns: entries(state.pairCooldowns),
    retiredProposals: entries(state.retiredProposals),
    proposalDeadlines: state.proposalDeadlines.toArray(),
    cooldownDeadlines: state.cooldownDeadlines.toArray(),
    retiredDeadlines: state.retiredDeadlines.toArray(),
  };
}

type Op =
  | { op: "propose"; a: number; b: number; dt: number }
  | { op: "repropose"; p: number; dt: number }
  | { op: "accept"; p: number; dt: number }
  | { op: "settle"; g: number; released: boolean; dt: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("propose" as const), a: fc.nat(4), b: fc.nat(4), dt: fc.integer({ min: 0, max: DAY }) }),
  fc.record({ op: fc.constant("accept" as const), p: fc.nat(30), dt: fc.integer({ min: 0, max: DAY }) }),
  fc.record({ op: fc.constant("repropose" as const), p: fc.nat(30), dt: fc.integer({ min: 0, max: DAY }) }),
  fc.record({
    op: fc.constant("settle" as const),
    g: fc.nat(30),
    released: fc.boolean(),
    dt: fc.integer({ min: 0, max: DAY }),
  }),
);

function uuid(n: number): string {
  return `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
}

test("no member is ever in two open games; a stake is never released before its period; a proposal id is never used twice; evolve is pure; folding re-derives the state", () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      let state: LedgerState = initialLedgerState;
      const log: LedgerEvent[] = [];
      const run = (command: LedgerCommand) => {
        try {
          const events = decideLedger(command, state);
          log.push(...events);
          const before = state;
          const snapshot = plain(before);
          state = events.reduce(evolveLedger, state);
          assert.deepEqual(plain(before), snapshot, "evolve changed the state it was given");
          return events;
        } catch (error) {
          if (!isPotError(error)) throw error;
          return [];
        }
      };
      run({ type: "AdoptPolicy", policy });
      run({ type: "AdoptAgreement", agreement: { version: 1, hash, uri: "https://example.org/a" } });
      for (const m of members) run({ type: "RegisterSponsor", memberId: m.id, publicKey: m.keys.publicKey });
      let now = 1_700_000_000_000;
      const proposals: { id: string; proposer: number; partner: number; madeAt: number }[] = [];
      const gameIds = new Set<string>();
      const locks = new Map<string, { until: number; game: string }>();
      for (const op of ops) {
        now += op.dt;
        if (op.op === "propose") {
          const id = uuid(proposals.length + 1);
          const a = members[op.a]!;
          const b = members[op.b]!;
          const action = actionFor(id);
          const events = run({
            type: "Propose",
            networkId: NETWORK,
            proposalId: id,
            proposerId: a.id,
            partnerId: b.id,
            action,
            signature: sign(proposePayload(NETWORK, id, a.id, b.id, actionDigest(action)), a.keys.secretKey),
            now,
          });
          if (events.length) proposals.push({ id, proposer: op.a, partner: op.b, madeAt: now });
        } else if (op.op === "repropose") {
          // A retried Propose: a no-op while the proposal is kept, refused once it is retired.
          const p = proposals[op.p % Math.max(1, proposals.length)];
          if (!p) continue;
          const a = members[p.proposer]!;
          const b = members[p.partner]!;
          const action = actionFor(p.id);
          const retry: LedgerCommand = {
            type: "Propose",
            networkId: NETWORK,
            proposalId: p.id,
            proposerId: a.id,
            partnerId: b.id,
            action,
            signature: sign(proposePayload(NETWORK, p.id, a.id, b.id, actionDigest(action)), a.keys.secretKey),
            now,
          };
          if (state.proposals.has(p.id)) assert.deepEqual(decideLedger(retry, state), []);
          else if (state.retiredProposals.has(p.id))
            assert.throws(() => decideLedger(retry, state), /was already used/);
          // Forgotten: only once it is older than the horizon, so the matchmaker's edge refuses it as too old.
          else
            assert.ok(
              now - p.madeAt >= RETIRED_ID_HORIZON_MS,
              `${p.id} forgotten ${now - p.madeAt} ms after it was made`,
            );
        } else if (op.op === "accept") {
          const p = proposals[op.p % Math.max(1, proposals.length)];
          if (!p) continue;
          const b = members[p.partner]!;
          for (const e of run({
            type: "Accept",
            networkId: NETWORK,
            proposalId: p.id,
            memberId: b.id,
            signature: sign(answerPayload(NETWORK, "accept", p.id, b.id), b.keys.secretKey),
            now,
          })) {
            if (e.type === "GameOpened") {
              assert.ok(!gameIds.has(e.gameId), `game ${e.gameId} opened twice`);
              gameIds.add(e.gameId);
            }
            if (e.type === "GameOpened")
              for (const s of [e.sponsorA, e.sponsorB])
                locks.set(s.memberId, { until: e.stakeLockedUntil, game: e.gameId });
          }
        } else {
          const open = [...state.openGames.keys()];
          const g = open[op.g % Math.max(1, open.length)];
          if (g) {
            const sponsorIds = state.openGames.get(g)!.sponsorIds;
            // A cancellation (stakes released) follows an exclusion; the ledger refuses one that does
            // not, so the released settlement is folded as the event it would be.
            if (op.released) {
              const settled: LedgerEvent = { type: "StakesSettled", gameId: g, suspensions: [], released: true };
              log.push(settled);
              state = evolveLedger(state, settled);
            } else run({ type: "SettleGame", gameId: g, sponsorIds, suspensions: [], released: false });
            if (op.released) for (const [m, l] of locks) if (l.game === g) locks.delete(m);
          }
        }
        // Invariant: nobody is in two open games.
        const seen = new Set<string>();
        for (const game of state.openGames.values()) {
          for (const id of game.sponsorIds) {
            assert.ok(!seen.has(id), `member ${id.slice(0, 6)} is in two open games`);
            seen.add(id);
          }
        }
        // Invariant: a proposal is either kept or retired; a kept one past its expiry backs an open game,
        // or the clock has not reached it in the pruning queue yet.
        for (const id of state.proposals.keys()) assert.ok(!state.retiredProposals.has(id), `${id} kept and retired`);
        for (const id of state.openGames.keys())
          assert.ok(state.proposals.has(id), `open game ${id} lost its proposal`);
        // Invariant: a locked stake is unavailable until its period ends (unless released by a cancellation).
        for (const [memberId, lock] of locks) {
          if (now < lock.until)
            assert.ok(unavailability(state, memberId, now), "a stake was released before its period");
        }
      }
      const refolded = log.reduce(evolveLedger, initialLedgerState);
      assert.deepEqual(plain(refolded), plain(state));
    }),
    { numRuns: 200 },
  );
});

test("the ledger's memory follows the rate of proposals, not the length of its history", () => {
  // 40 members propose, answer and play for over a year of ledger time (12,000 steps of up to 2 h):
  // every proposal the ledger still holds, kept or retired, was made within the horizon plus a
  // proposal's longest life, however many were made before.
  const many = Array.from({ length: 40 }, (_, i) => {
    const keys = keyPairFromSecret(new Uint8Array(32).fill(i + 11));
    return { keys, id: memberIdOf(keys.publicKey) };
  });
  // Without the sponsor quota and the pending-proposal cap (growth rules): this is about memory at a
  // high rate of proposals, which those rules would keep low.
  const shortGames = {
    ...policy,
    admission: { ...policy.admission, stakePeriodMs: DAY / 2 },
    pairCooldownMs: DAY,
    growth: { ...policy.growth, sponsorQuota: 0, sponsorQuotaWindowMs: 0, pendingProposalCap: 0 },
  };
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
      let rng = seed;
      const random = (n: number) => {
        rng = (Math.imul(rng, 1_103_515_245) + 12_345) >>> 0;
        return rng % n;
      };
      let state: LedgerState = initialLedgerState;
      const apply = (command: LedgerCommand) => {
        try {
          const events = decideLedger(command, state);
          state = events.reduce(evolveLedger, state);
          return events;
        } catch (error) {
          if (!isPotError(error)) throw error;
          return [];
        }
      };
      apply({ type: "AdoptPolicy", policy: shortGames });
      apply({ type: "AdoptAgreement", agreement: { version: 1, hash, uri: "https://example.org/a" } });
      for (const m of many) apply({ type: "RegisterSponsor", memberId: m.id, publicKey: m.keys.publicKey });
      let now = 1_700_000_000_000;
      const madeAt = new Map<string, number>();
      const openedAt = new Map<string, number>();
      const pending: string[] = [];
      let made = 0;
      let largest = 0;
      const longestLife = shortGames.proposalTtlMs + 2 * DAY;
      for (let step = 0; step < 12_000; step++) {
        now += random(2 * 3_600_000);
        const roll = random(10);
        if (roll < 5) {
          const a = many[random(many.length)]!;
          const b = many[random(many.length)]!;
          const id = uuid(++made);
          const action = actionFor(id);
          const signature = sign(proposePayload(NETWORK, id, a.id, b.id, actionDigest(action)), a.keys.secretKey);
          const events = apply({
            type: "Propose",
            networkId: NETWORK,
            proposalId: id,
            proposerId: a.id,
            partnerId: b.id,
            action,
            signature,
            now,
          });
          if (events.length) {
            madeAt.set(id, now);
            pending.push(id);
          }
        } else if (roll < 8 && pending.length > 0) {
          const id = pending.splice(random(pending.length), 1)[0]!;
          const proposal = state.proposals.get(id);
          if (!proposal) continue;
          const partner = many.find((m) => m.id === proposal.partnerId)!;
          const answer = roll === 5 ? "decline" : "accept";
          apply({
            type: roll === 5 ? "Decline" : "Accept",
            networkId: NETWORK,
            proposalId: id,
            memberId: partner.id,
            signature: sign(answerPayload(NETWORK, answer, id, partner.id), partner.keys.secretKey),
            now,
          });
          if (state.openGames.has(id)) openedAt.set(id, now);
        }
        // Games resolve within two days (the adjudicator's deadlines), then the matchmaker settles them.
        for (const [gameId, at] of openedAt) {
          if (now - at < 2 * DAY && random(4) !== 0) continue;
          const sponsorIds = state.openGames.get(gameId)?.sponsorIds ?? [];
          apply({ type: "SettleGame", gameId, sponsorIds, suspensions: [], released: false });
          openedAt.delete(gameId);
        }
        const held = [...state.proposals.keys(), ...state.retiredProposals.keys()];
        for (const id of held) {
          const age = now - (madeAt.get(id) ?? now);
          assert.ok(
            age <= RETIRED_ID_HORIZON_MS + longestLife + 2 * 3_600_000,
            `${id} held ${age} ms after it was made`,
          );
        }
        largest = Math.max(largest, held.length + state.proposalDeadlines.size + state.retiredDeadlines.size);
      }
      // About 2.5 proposals an hour are kept for at most ~6 days: a few hundred, of thousands made.
      assert.ok(made > 5_000, `${made} proposals made`);
      if (process.env.POT_TEST_VERBOSE)
        console.log(`${made} proposals made; the ledger held at most ${largest} entries`);
      assert.ok(largest < made / 5, `the ledger held up to ${largest} entries for ${made} proposals`);
    }),
    { numRuns: 2 },
  );
});
