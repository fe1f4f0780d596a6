import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { status } from "@grpc/grpc-js";
import { AdmissionKind, GamePhase, MemberStatus, Outcome, type Action } from "@pot/contracts";
import { streamNames } from "@pot/event-store";
import { DEFAULT_POLICY, redeemPayload, sign, type MoveName } from "@pot/mechanism";
import { policyToWire } from "@pot/wire";
import { eventually, isStatus } from "./support/clients.js";
import {
  admissionOf,
  answerRequest,
  bootstrap,
  commitRequest,
  controlledConsent,
  type Member,
  newMember,
  proposeRequest,
  revealRequest,
  sealMove,
  signedExclude,
  signedPolicy,
  TEST_NETWORK,
} from "./support/players.js";
import { readStream } from "./support/streams.js";
import { SERVICES, startSystem, type System } from "./support/system.js";

const rules = DEFAULT_POLICY.admission;
const GENESIS = 40;

/**
 * Every rule of the mechanism, through gRPC, against the three services as processes on real NATS
 * and Postgres. Time is a controlled clock: deadlines pass when the test moves it, never by sleeping.
 */
describe("the Proof-of-Trust mechanism end to end", () => {
  let system: System;
  let genesis: Member[];
  let now = Date.UTC(2030, 0, 1);
  const fresh = () => {
    const member = genesis.shift();
    if (!member) throw new Error("out of genesis members: raise GENESIS");
    return member;
  };
  const advance = async (ms: number) => {
    now += ms;
    await system.setClock(now);
  };
  const expectStatus = async (promise: Promise<unknown>, code: status, pattern?: RegExp) => {
    await assert.rejects(promise, (error: Error & { code?: number; details?: string }) => {
      assert.equal(error.code, code, `expected status ${status[code]}, got ${error.code}: ${error.details}`);
      if (pattern) assert.match(error.details ?? "", pattern);
      return true;
    });
  };

  before(async () => {
    system = await startSystem({ clock: "controlled" });
    await system.setClock(now);
    genesis = Array.from({ length: GENESIS }, newMember);
    await bootstrap(system.clients, genesis);
    await eventually("the default policy", async () =>
      (await system.clients.adjudicator.getPolicy({ version: 0 })).policy?.version === 1 ? true : undefined,
    );
  });

  after(async () => {
    const codes = await system?.stop();
    assert.deepEqual(codes, [0, 0, 0]);
  });

  /** Proposes, accepts and commits; returns what is needed to reveal. */
  async function openAndCommit(a: Member, b: Member, action: Action, moves: [MoveName | null, MoveName | null]) {
    const { clients } = system;
    const proposal = proposeRequest(a, b, action);
    await eventually("the proposal", () => clients.matchmaker.propose(proposal));
    const accepted = await clients.matchmaker.accept(answerRequest("accept", b, proposal.proposalId));
    const gameId = accepted.gameId;
    const sealed = moves.map((move) => (move ? sealMove(move) : null));
    await eventually(
      `game ${gameId} to start`,
      async () => (await clients.adjudicator.getGame({ gameId, minSequence: 0n, consistencyToken: "" })).game,
    );
    for (const [index, member] of [a, b].entries()) {
      const s = sealed[index];
      if (s) await clients.adjudicator.commitMove(commitRequest(member, gameId, s));
    }
    return { gameId, accepted, sealed };
  }

  async function play(a: Member, b: Member, moves: [MoveName, MoveName], action: Action = admissionOf(newMember())) {
    const { gameId, sealed } = await openAndCommit(a, b, action, moves);
    await system.clients.adjudicator.revealMove(revealRequest(a, gameId, sealed[0]!));
    const last = await system.clients.adjudicator.revealMove(revealRequest(b, gameId, sealed[1]!));
    return { gameId, outcome: last.outcome, action };
  }

  const stakeOf = (member: Member) =>
    system.clients.matchmaker
      .getStake({ memberId: member.id, minSequence: 0n, consistencyToken: "" })
      .then((r) => r.stake!);
  const memberOf = (id: string) =>
    system.clients.identity.getMember({ memberId: id, minSequence: 0n, consistencyToken: "" }).then((r) => r.member!);
  const gameOf = (gameId: string) =>
    system.clients.adjudicator.getGame({ gameId, minSequence: 0n, consistencyToken: "" }).then((r) => r.game!);
  const resolvedGame = (gameId: string) =>
    eventually(`game ${gameId} resolved`, async () => {
      const game = await gameOf(gameId);
      return game.phase === GamePhase.GAME_PHASE_RESOLVED ? game : undefined;
    });

  test("both cooperate: the candidate is admitted, sponsored by both; both stakes locked for the stake period", async () => {
    const [a, b, candidate] = [fresh(), fresh(), newMember()];
    const { gameId, outcome } = await play(a, b, ["cooperate", "cooperate"], admissionOf(candidate));
    assert.equal(outcome, Outcome.OUTCOME_BOTH_COOPERATED);
    const member = await eventually("the admission", () => memberOf(candidate.id));
    assert.equal(member.kind, AdmissionKind.ADMISSION_KIND_SPONSORED);
    assert.deepEqual([...member.sponsorIds].sort(), [a.id, b.id].sort());
    const game = await resolvedGame(gameId);
    for (const sponsor of [a, b]) {
      const stake = await stakeOf(sponsor);
      assert.equal(Number(stake.lockedUntilMs), Number(game.openedAtMs) + rules.stakePeriodMs);
      assert.equal(stake.suspendedUntilMs, 0n);
      assert.equal(stake.available, false);
    }
  });

  for (const [label, moves, defectorIndex] of [
    ["A defects on a cooperating B", ["defect", "cooperate"], 0],
    ["B defects on a cooperating A", ["cooperate", "defect"], 1],
  ] as const) {
    test(`${label}: the defector gets ${rules.defectorCredits} credits, the cooperator is suspended for the penalty period, nobody is admitted`, async () => {
      const [a, b, candidate] = [fresh(), fresh(), newMember()];
      const { gameId, outcome } = await play(a, b, [...moves], admissionOf(candidate));
      assert.equal(outcome, defectorIndex === 0 ? Outcome.OUTCOME_A_DEFECTED : Outcome.OUTCOME_B_DEFECTED);
      const defector = defectorIndex === 0 ? a : b;
      const betrayed = defectorIndex === 0 ? b : a;
      const game = await resolvedGame(gameId);
      const withCredits = await eventually("the credits", async () => {
        const m = await memberOf(defector.id);
        return m.credits > 0 ? m : undefined;
      });
      assert.equal(withCredits.credits, rules.defectorCredits);
      const suspended = await eventually("the suspension", async () => {
        const s = await stakeOf(betrayed);
        return s.suspendedUntilMs > 0n ? s : undefined;
      });
      assert.equal(Number(suspended.suspendedUntilMs), Number(game.resolvedAtMs) + rules.penaltyPeriodMs);
      assert.equal((await stakeOf(defector)).suspendedUntilMs, 0n);
      await expectStatus(memberOf(candidate.id), status.NOT_FOUND);
    });
  }

  test("both defect: both are suspended, no credits, no admission", async () => {
    const [a, b] = [fresh(), fresh()];
    const { gameId, outcome } = await play(a, b, ["defect", "defect"]);
    assert.equal(outcome, Outcome.OUTCOME_BOTH_DEFECTED);
    const game = await resolvedGame(gameId);
    for (const sponsor of [a, b]) {
      const stake = await eventually("the suspension", async () => {
        const s = await stakeOf(sponsor);
        return s.suspendedUntilMs > 0n ? s : undefined;
      });
      assert.equal(Number(stake.suspendedUntilMs), Number(game.resolvedAtMs) + rules.penaltyPeriodMs);
      assert.equal((await memberOf(sponsor.id)).credits, 0);
    }
  });

  test("no-show at commit: nobody commits before the deadline, both are suspended for the no-show penalty", async () => {
    const [a, b] = [fresh(), fresh()];
    const { gameId } = await openAndCommit(a, b, admissionOf(newMember()), [null, null]);
    await advance(rules.commitWindowMs + 1);
    const game = await resolvedGame(gameId);
    assert.equal(game.outcome, Outcome.OUTCOME_NO_SHOW);
    for (const sponsor of [a, b]) {
      const stake = await eventually("the suspension", async () =>
        (await stakeOf(sponsor)).suspendedUntilMs > 0n ? stakeOf(sponsor) : undefined,
      );
      assert.equal(Number(stake.suspendedUntilMs), now + rules.noShowPenaltyMs);
    }
  });

  test("no-show at commit: only B fails to commit; only B is penalised", async () => {
    const [a, b] = [fresh(), fresh()];
    const { gameId } = await openAndCommit(a, b, admissionOf(newMember()), ["cooperate", null]);
    await advance(rules.commitWindowMs + 1);
    const game = await resolvedGame(gameId);
    assert.equal(game.outcome, Outcome.OUTCOME_NO_SHOW);
    const stakeB = await eventually("B's suspension", async () =>
      (await stakeOf(b)).suspendedUntilMs > 0n ? stakeOf(b) : undefined,
    );
    assert.equal(Number(stakeB.suspendedUntilMs), now + rules.noShowPenaltyMs);
    assert.equal((await stakeOf(a)).suspendedUntilMs, 0n);
  });

  test("no-show at reveal: B sees A's defect and does not reveal; B's penalty is not milder than defecting", async () => {
    const [a, b] = [fresh(), fresh()];
    const { gameId, sealed } = await openAndCommit(a, b, admissionOf(newMember()), ["defect", "defect"]);
    await system.clients.adjudicator.revealMove(revealRequest(a, gameId, sealed[0]!));
    await advance(rules.revealWindowMs + 1);
    const game = await resolvedGame(gameId);
    assert.equal(game.outcome, Outcome.OUTCOME_NO_SHOW);
    const stakeB = await eventually("B's suspension", async () =>
      (await stakeOf(b)).suspendedUntilMs > 0n ? stakeOf(b) : undefined,
    );
    assert.ok(Number(stakeB.suspendedUntilMs) - Number(game.resolvedAtMs) >= rules.penaltyPeriodMs);
    assert.equal((await stakeOf(a)).suspendedUntilMs, 0n);
    await expectStatus(
      system.clients.adjudicator.revealMove(revealRequest(b, gameId, sealed[1]!)),
      status.FAILED_PRECONDITION,
      /resolved/,
    );
  });

  test("deadlines are durable: a commit deadline that passes while the adjudicator is down resolves when it comes back", async () => {
    const [a, b] = [fresh(), fresh()];
    const { gameId } = await openAndCommit(a, b, admissionOf(newMember()), ["cooperate", null]);
    assert.equal(await system.stopService("adjudicator"), 0);
    await advance(rules.commitWindowMs + 1);
    await system.startService("adjudicator");
    const game = await resolvedGame(gameId);
    assert.equal(game.outcome, Outcome.OUTCOME_NO_SHOW);
  });

  test("credits: the defector admits an identity it controls, marked controlled (never sponsored); credits run out", async () => {
    const [a, b] = [fresh(), fresh()];
    await play(a, b, ["defect", "cooperate"]);
    await eventually("the credits", async () =>
      (await memberOf(a.id)).credits === rules.defectorCredits ? true : undefined,
    );
    const redeem = (controlled: Member, requestId = randomUUID(), signer = a) => {
      const consent = controlledConsent(controlled, a);
      return system.clients.identity.redeemCredit({
        requestId,
        memberId: a.id,
        consent,
        signature: sign(redeemPayload(TEST_NETWORK, a.id, controlled.keys.publicKey, requestId), signer.keys.secretKey),
      });
    };
    await expectStatus(redeem(newMember(), randomUUID(), b), status.PERMISSION_DENIED, /signature/);
    const first = newMember();
    const redeemed = await redeem(first);
    assert.equal(redeemed.admittedMemberId, first.id);
    assert.equal(redeemed.creditsLeft, rules.defectorCredits - 1);
    const controlled = await eventually("the controlled identity", () => memberOf(first.id));
    assert.equal(controlled.kind, AdmissionKind.ADMISSION_KIND_CONTROLLED);
    assert.equal(controlled.controllerId, a.id);
    assert.deepEqual(controlled.sponsorIds, []);
    await expectStatus(redeem(first), status.ALREADY_EXISTS);
    for (let i = 1; i < rules.defectorCredits; i++) await redeem(newMember());
    await expectStatus(redeem(newMember()), status.FAILED_PRECONDITION, /no unexpired admission credit/);
    await eventually("the spent credits", async () => ((await memberOf(a.id)).credits === 0 ? true : undefined));
  });

  test("exclusion: the member can no longer play, its open game is cancelled and the partner's stake released, its sponsors are suspended", async () => {
    const [a, b, c] = [fresh(), fresh(), fresh()];
    const x = newMember();
    await play(a, b, ["cooperate", "cooperate"], admissionOf(x));
    await eventually("x known to the matchmaker", () => stakeOf(x));
    await advance(DEFAULT_POLICY.growth.maturityPeriodMs); // x may sponsor once mature
    const { gameId } = await openAndCommit(x, c, admissionOf(newMember()), ["cooperate", "cooperate"]);
    await system.clients.identity.exclude(
      signedExclude({ requestId: randomUUID(), memberId: x.id, reason: "coerced a candidate" }),
    );
    const cancelled = await resolvedGame(gameId);
    assert.equal(cancelled.outcome, Outcome.OUTCOME_CANCELLED);
    assert.equal((await memberOf(x.id)).status, MemberStatus.MEMBER_STATUS_EXCLUDED);
    const partner = await eventually("c's stake released", async () =>
      (await stakeOf(c)).available ? stakeOf(c) : undefined,
    );
    assert.equal(partner.suspendedUntilMs, 0n);
    for (const sponsor of [a, b]) {
      const stake = await eventually("the sponsor's suspension", async () =>
        (await stakeOf(sponsor)).suspendedUntilMs > 0n ? stakeOf(sponsor) : undefined,
      );
      assert.equal(Number(stake.suspendedUntilMs), now + DEFAULT_POLICY.exclusionSponsorPenaltyMs);
    }
    const excluded = await stakeOf(x);
    assert.equal(excluded.excluded, true);
    await expectStatus(
      system.clients.matchmaker.propose(proposeRequest(x, fresh(), admissionOf(newMember()))),
      status.FAILED_PRECONDITION,
      /excluded/,
    );
  });

  test("exclusion of a Sybil controller: the identities its credits admitted are excluded with it, each with its own MemberExcluded", async () => {
    const [a, b] = [fresh(), fresh()];
    await play(a, b, ["defect", "cooperate"]);
    await eventually("the credits", async () => ((await memberOf(a.id)).credits > 0 ? true : undefined));
    const controlled = [newMember(), newMember()];
    for (const member of controlled) {
      const requestId = randomUUID();
      await system.clients.identity.redeemCredit({
        requestId,
        memberId: a.id,
        consent: controlledConsent(member, a),
        signature: sign(redeemPayload(TEST_NETWORK, a.id, member.keys.publicKey, requestId), a.keys.secretKey),
      });
    }
    await eventually("the controlled identities known to the matchmaker", async () => {
      for (const member of controlled) await stakeOf(member);
      return true;
    });
    await system.clients.identity.exclude(
      signedExclude({ requestId: randomUUID(), memberId: a.id, reason: "found to be a Sybil" }),
    );
    for (const member of controlled) {
      const excluded = await eventually(`controlled identity ${member.id} excluded`, async () => {
        const record = await memberOf(member.id);
        return record.status === MemberStatus.MEMBER_STATUS_EXCLUDED ? record : undefined;
      });
      assert.equal(excluded.controllerId, a.id);
      await eventually("its slot closed", async () => ((await stakeOf(member)).excluded ? true : undefined));
    }
    assert.equal(
      (await memberOf(b.id)).status,
      MemberStatus.MEMBER_STATUS_ACTIVE,
      "the betrayed partner is no lineage",
    );
    const exclusions = (await readStream(system.nc, streamNames(system.namespace, "identity").stream))
      .flatMap((stored) => (stored.envelope.event?.$case === "memberExcluded" ? [stored.envelope.event.value] : []))
      .filter((event) => controlled.some((member) => member.id === event.memberId));
    assert.deepEqual(
      exclusions.map((event) => event.reason),
      controlled.map(() => `controlled by excluded member ${a.id}`),
    );
  });

  test("a generic action is rate-limited by a game under its own rules, and resolves to granted or denied", async () => {
    const published = await system.clients.adjudicator.publishPolicy(
      await signedPolicy(system.clients, {
        requestId: randomUUID(),
        policy: policyToWire({
          ...DEFAULT_POLICY,
          actionKinds: [{ kind: "post.create", rules: { ...rules, defectorCredits: 0, stakePeriodMs: 3_600_000 } }],
        }),
      }),
    );
    const action: Action = {
      action: { $case: "generic", value: { kind: "post.create", payload: new TextEncoder().encode('{"post":42}') } },
    };
    const [a, b, c, d] = [fresh(), fresh(), fresh(), fresh()];
    const granted = await eventually("the policy with post.create to reach the matchmaker", () =>
      play(a, b, ["cooperate", "cooperate"], action),
    );
    const denied = await play(c, d, ["cooperate", "defect"], action);
    assert.equal(granted.outcome, Outcome.OUTCOME_BOTH_COOPERATED);
    const events = await eventually("both resolutions on the stream", async () => {
      const all = (await readStream(system.nc, streamNames(system.namespace, "adjudicator").stream)).filter(
        (e) => e.envelope.event?.$case === "gameResolved",
      );
      const mine = all.filter((e) => [granted.gameId, denied.gameId].includes(e.envelope.aggregateId));
      return mine.length === 2 ? mine : undefined;
    });
    for (const event of events) {
      assert.ok(event.envelope.event?.$case === "gameResolved");
      const resolved = event.envelope.event.value;
      assert.equal(resolved.policyVersion, published.version);
      assert.equal(resolved.action?.action?.$case, "generic");
      assert.equal(resolved.granted, resolved.gameId === granted.gameId);
      assert.equal(resolved.admitted, false);
      assert.deepEqual(resolved.credits, []);
    }
    const stake = await stakeOf(a);
    const game = await gameOf(granted.gameId);
    assert.equal(
      Number(stake.lockedUntilMs) - Number(game.openedAtMs),
      3_600_000,
      "the action kind's own stake period",
    );
  });

  test("a policy change while a game is open: the game resolves under the version it opened with", async () => {
    const [a, b] = [fresh(), fresh()];
    const before = (await system.clients.adjudicator.getPolicy({ version: 0 })).policy!;
    const { gameId, sealed } = await openAndCommit(a, b, admissionOf(newMember()), ["defect", "cooperate"]);
    const harsher = {
      ...DEFAULT_POLICY,
      admission: { ...rules, penaltyPeriodMs: rules.penaltyPeriodMs * 2, noShowPenaltyMs: rules.noShowPenaltyMs * 2 },
    };
    const changed = await system.clients.adjudicator.publishPolicy(
      await signedPolicy(system.clients, {
        requestId: randomUUID(),
        policy: policyToWire(harsher),
      }),
    );
    assert.equal(changed.version, before.version + 1);
    await system.clients.adjudicator.revealMove(revealRequest(a, gameId, sealed[0]!));
    await system.clients.adjudicator.revealMove(revealRequest(b, gameId, sealed[1]!));
    const game = await resolvedGame(gameId);
    assert.equal(game.policyVersion, before.version);
    const stake = await eventually("the suspension", async () =>
      (await stakeOf(b)).suspendedUntilMs > 0n ? stakeOf(b) : undefined,
    );
    assert.equal(Number(stake.suspendedUntilMs) - Number(game.resolvedAtMs), Number(before.admission!.penaltyPeriodMs));
  });

  test("racing acceptances involving the same member open exactly one game; the other gets FAILED_PRECONDITION with the reason", async () => {
    const [a, b, c] = [fresh(), fresh(), fresh()];
    const p1 = proposeRequest(a, b, admissionOf(newMember()));
    const p2 = proposeRequest(c, b, admissionOf(newMember()));
    await system.clients.matchmaker.propose(p1);
    await system.clients.matchmaker.propose(p2);
    const results = await Promise.allSettled([
      system.clients.matchmaker.accept(answerRequest("accept", b, p1.proposalId)),
      system.clients.matchmaker.accept(answerRequest("accept", b, p2.proposalId)),
    ]);
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    // Once accepted, an Accept by anyone else is refused, not replayed as a success.
    const winner = results[0]!.status === "fulfilled" ? p1 : p2;
    await expectStatus(
      system.clients.matchmaker.accept(answerRequest("accept", a, winner.proposalId)),
      status.PERMISSION_DENIED,
      /only the partner/,
    );
    const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    assert.ok(isStatus(rejected.reason, status.FAILED_PRECONDITION) || isStatus(rejected.reason, status.ABORTED));
    assert.match(String(rejected.reason.details), /playing game|staked/);
  });

  test("bad input gets a precise status naming the field, and records nothing", async () => {
    const { clients } = system;
    const stream = streamNames(system.namespace, "matchmaker").stream;
    const before = (await readStream(system.nc, stream)).length;
    const [a, b] = [fresh(), fresh()];
    await expectStatus(
      clients.matchmaker.propose({ ...proposeRequest(a, b, admissionOf(newMember())), proposerId: "not-a-member-id" }),
      status.INVALID_ARGUMENT,
      /proposer_id/,
    );
    await expectStatus(
      clients.matchmaker.propose({ ...proposeRequest(a, b, admissionOf(newMember())), proposalId: "x" }),
      status.INVALID_ARGUMENT,
      /proposal_id/,
    );
    await expectStatus(
      clients.matchmaker.propose({ ...proposeRequest(a, b, admissionOf(newMember())), signature: new Uint8Array(3) }),
      status.INVALID_ARGUMENT,
      /signature: must be 64 bytes/,
    );
    await expectStatus(
      clients.matchmaker.propose({ ...proposeRequest(a, b, admissionOf(newMember())), signature: new Uint8Array(64) }),
      status.PERMISSION_DENIED,
      /signature/,
    );
    await expectStatus(
      clients.matchmaker.propose(proposeRequest(a, newMember(), admissionOf(newMember()))),
      status.NOT_FOUND,
      /not a member/,
    );
    await expectStatus(clients.matchmaker.accept(answerRequest("accept", b, randomUUID())), status.NOT_FOUND);
    await expectStatus(
      clients.adjudicator.commitMove(commitRequest(a, randomUUID(), sealMove("cooperate"))),
      status.NOT_FOUND,
    );
    await expectStatus(
      clients.adjudicator.revealMove({ ...revealRequest(a, randomUUID(), sealMove("cooperate")), move: 0 }),
      status.INVALID_ARGUMENT,
      /move/,
    );
    await expectStatus(
      clients.identity.getMember({ memberId: "zz", minSequence: 0n, consistencyToken: "" }),
      status.INVALID_ARGUMENT,
      /member_id/,
    );
    const { gameId, sealed } = await openAndCommit(a, b, admissionOf(newMember()), ["cooperate", null]);
    const adjudicatorBefore = (await readStream(system.nc, streamNames(system.namespace, "adjudicator").stream)).length;
    await expectStatus(
      clients.adjudicator.revealMove(revealRequest(a, gameId, sealed[0]!)),
      status.FAILED_PRECONDITION,
      /waiting for both commitments/,
    );
    const c = fresh();
    await expectStatus(
      clients.adjudicator.commitMove(commitRequest(c, gameId, sealMove("cooperate"))),
      status.PERMISSION_DENIED,
      /not a sponsor/,
    );
    const wrongNonce = { ...revealRequest(a, gameId, sealed[0]!) };
    await clients.adjudicator.commitMove(commitRequest(b, gameId, sealMove("cooperate")));
    const other = sealMove("cooperate");
    await expectStatus(
      clients.adjudicator.revealMove(revealRequest(a, gameId, other)),
      status.INVALID_ARGUMENT,
      /nonce/,
    );
    await expectStatus(
      clients.adjudicator.revealMove({ ...wrongNonce, signature: new Uint8Array(64) }),
      status.PERMISSION_DENIED,
    );
    const afterEvents = await readStream(system.nc, streamNames(system.namespace, "adjudicator").stream);
    assert.equal(
      afterEvents.filter((e) => e.envelope.event?.$case === "moveRevealed" && e.envelope.aggregateId === gameId).length,
      0,
      "no refused reveal was recorded",
    );
    assert.ok(afterEvents.length >= adjudicatorBefore);
    const bad = { ...DEFAULT_POLICY, admission: { ...rules, noShowPenaltyMs: 1 } };
    await expectStatus(
      clients.adjudicator.publishPolicy(
        await signedPolicy(clients, { requestId: randomUUID(), policy: policyToWire(bad) }),
      ),
      status.INVALID_ARGUMENT,
      /would simply not reveal/,
    );
    const opened = (await readStream(system.nc, stream)).length;
    assert.equal(
      opened,
      before + 2,
      "only the good proposal and its acceptance were recorded on the matchmaker's stream",
    );
  });

  test("secrecy: no message or header on any stream carries a move or a nonce before both commitments exist", async () => {
    const everything = (
      await Promise.all(SERVICES.map((s) => readStream(system.nc, streamNames(system.namespace, s).stream)))
    ).flat();
    const games = new Map<string, { commits: number; revealed: boolean }>();
    const adjudicator = everything.filter((e) => e.subject.includes(".adjudicator.game."));
    const reveals = adjudicator.filter((e) => e.envelope.event?.$case === "moveRevealed");
    assert.ok(reveals.length > 10, "the suite revealed moves");
    for (const event of adjudicator.sort((x, y) => x.seq - y.seq)) {
      const game = games.get(event.envelope.aggregateId) ?? { commits: 0, revealed: false };
      if (event.envelope.event?.$case === "moveCommitted") game.commits++;
      if (event.envelope.event?.$case === "moveRevealed") {
        assert.equal(game.commits, 2, `game ${event.envelope.aggregateId} revealed a move before both commitments`);
      }
      games.set(event.envelope.aggregateId, game);
    }
    // Every nonce that was ever revealed: none of their bytes appears in any message or header before its reveal.
    for (const reveal of reveals) {
      assert.ok(reveal.envelope.event?.$case === "moveRevealed");
      const nonce = Buffer.from(reveal.envelope.event.value.nonce);
      for (const message of everything.filter((m) => m.seq < reveal.seq || m.subject.split(".")[1] !== "adjudicator")) {
        if (message.envelope.event?.$case === "moveRevealed" || message.envelope.event?.$case === "gameResolved")
          continue;
        const raw = Buffer.concat([
          Buffer.from(
            JSON.stringify(message.envelope, (_k, v) =>
              typeof v === "bigint" ? String(v) : v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v,
            ),
          ),
        ]);
        assert.ok(!raw.includes(nonce.toString("hex")), `a nonce appears in ${message.envelope.type} #${message.seq}`);
        for (const [key] of message.headers ?? [])
          assert.ok(
            [
              "Pot-Event-Type",
              "Nats-Msg-Id",
              "traceparent",
              "tracestate",
              "Nats-Expected-Last-Subject-Sequence",
              "Nats-Expected-Last-Msg-Id",
              // A hash of the request's content (on a commit: commitment and signature, both public).
              "Pot-Request-Digest",
              "Pot-Batch",
            ].includes(key),
            `unexpected header ${key}`,
          );
      }
    }
  });
});
