import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { jetstream } from "@nats-io/jetstream";
import { GamePhase, Move } from "@pot/contracts";
import { encodeEnvelope, envelopeHeaders, envelopeOf, streamNames } from "@pot/event-store";
import { DEFAULT_POLICY, revealPayload, sign } from "@pot/mechanism";
import { digestTables, replay, verify, type ReplayProgress, type ServiceName } from "@pot/ops";
import { policyToWire } from "@pot/wire";
import {
  admissionOf,
  answerRequest,
  bootstrap,
  commitRequest,
  type Member,
  newMember,
  proposeRequest,
  revealRequest,
  sealMove,
  signedPolicy,
  TEST_NETWORK,
} from "./support/players.js";
import { SERVICES, startSystem, type System } from "./support/system.js";
import { inParallel, playWorkload, settle, type WorkloadResult } from "./support/workload.js";

const GENESIS = 240;
const GAMES = 1_000;
const SEED = Number(process.env.POT_WORKLOAD_SEED ?? 20301);
const TABLES: Record<ServiceName, string[]> = {
  identity: ["members", "credit_grants", "admissions_daily"],
  matchmaker: ["stakes", "proposals", "pair_cooldowns"],
  adjudicator: ["games", "trust_edges", "network_stats_daily"],
};

/**
 * Throw the read models away and rebuild them from the log: after a random workload of more than a
 * thousand games covering every outcome, each service's tables are replayed into a fresh schema and
 * swapped in, and must equal the live tables row for row; the services keep answering during the
 * rebuilds and go on from the rebuilt state; the adjudicator's log verifies, until it is tampered with.
 */
describe("rebuild from the log", () => {
  let system: System;
  let genesis: Member[];
  let workload: WorkloadResult;
  let now = Date.UTC(2031, 0, 1);
  const schemaOf = (service: ServiceName) => `${system.namespace}_${service}`;
  const liveDigests = (service: ServiceName) =>
    digestTables({ databaseUrl: system.databaseUrl, schema: schemaOf(service), tables: TABLES[service] });
  const replayOf = (service: ServiceName, onProgress?: (p: ReplayProgress) => void) =>
    replay({
      natsUrl: system.natsUrl,
      databaseUrl: system.databaseUrl,
      namespace: system.namespace,
      service,
      ...(onProgress ? { onProgress } : {}),
    });
  const settled = () => settle(system, { memberA: genesis[0]!.id, memberB: genesis[1]!.id });

  before(async () => {
    system = await startSystem({ clock: "controlled" });
    await system.setClock(now);
    genesis = Array.from({ length: GENESIS }, newMember);
    await bootstrap(system.clients, genesis);
    const published = await system.clients.adjudicator.publishPolicy(
      await signedPolicy(system.clients, {
        requestId: randomUUID(),
        policy: policyToWire({
          ...DEFAULT_POLICY,
          actionKinds: [{ kind: "post.create", rules: { ...DEFAULT_POLICY.admission, defectorCredits: 0 } }],
        }),
      }),
    );
    // The matchmaker adopts the policy from the adjudicator's stream: its token says when.
    await system.clients.matchmaker.getStake(
      { memberId: genesis[0]!.id, minSequence: 0n, consistencyToken: published.consistencyToken },
      { deadlineMs: 10_000 },
    );
  });

  after(async () => {
    const codes = await system?.stop();
    assert.deepEqual(codes, [0, 0, 0]);
  });

  test(`a random workload of ${GAMES}+ games covers every outcome (seed ${SEED})`, async () => {
    const started = performance.now();
    workload = await playWorkload(system, {
      members: genesis,
      games: GAMES,
      concurrency: 24,
      seed: SEED,
      now,
      genericKind: "post.create",
    });
    now = workload.now;
    const ends = await settled();
    console.log(
      `workload: ${workload.games} games in ${Math.round(performance.now() - started)} ms; ` +
        `${JSON.stringify(workload.scenarios)}; ${workload.controlled} controlled; streams ${JSON.stringify(ends)}; ms in calls ${JSON.stringify(workload.timings)}`,
    );
    assert.ok(workload.games >= GAMES);
    for (const outcome of [
      "OUTCOME_BOTH_COOPERATED",
      "OUTCOME_A_DEFECTED",
      "OUTCOME_B_DEFECTED",
      "OUTCOME_BOTH_DEFECTED",
      "generic OUTCOME_BOTH_COOPERATED",
      "generic OUTCOME_B_DEFECTED",
      "no-show",
      "cancelled",
    ]) {
      assert.ok((workload.scenarios[outcome] ?? 0) > 0, `no game ended ${outcome}`);
    }
    assert.ok(workload.controlled > 0, "no controlled identity was admitted");
    const { games } = await system.clients.adjudicator.listGames({
      pageSize: 500,
      pageToken: "",
      memberId: "",
      phase: GamePhase.GAME_PHASE_COMMIT,
      outcome: 0,
      actionKind: "",
      minSequence: 0n,
      consistencyToken: "",
    });
    assert.deepEqual(games, [], "every game is resolved");
    // A year of days per call: the workload spans several.
    const totals = { gamesStarted: 0, gamesResolved: 0, cancelled: 0, noShow: 0 };
    for (let from = Date.UTC(2031, 0, 1); from <= now; from += 366 * 86_400_000) {
      const { total } = await system.clients.adjudicator.getNetworkStats({
        fromDay: new Date(from).toISOString().slice(0, 10),
        toDay: new Date(from + 365 * 86_400_000).toISOString().slice(0, 10),
        minSequence: 0n,
        consistencyToken: "",
      });
      for (const key of Object.keys(totals) as (keyof typeof totals)[]) totals[key] += total?.[key] ?? 0;
    }
    assert.equal(totals.gamesStarted, workload.games);
    assert.equal(totals.gamesResolved, workload.games);
    assert.ok(totals.cancelled > 0 && totals.noShow > 0);
  });

  test("replaying each service rebuilds tables equal to the live ones, row for row", async () => {
    for (const service of SERVICES) {
      const live = await liveDigests(service);
      const progress: ReplayProgress[] = [];
      const result = await replayOf(service, (p) => progress.push(p));
      console.log(
        `replay ${service}: ${result.events} events in ${result.seconds.toFixed(2)} s, ${result.eventsPerSecond} events/s; ` +
          result.tables.map((t) => `${t.table} ${t.rows}`).join(", "),
      );
      assert.deepEqual(result.tables, live, `${service}'s rebuilt tables differ from the live ones`);
      assert.ok(
        result.tables.every((table) => table.rows > 0),
        `${service} has an empty table`,
      );
      assert.ok(result.events > 0 && result.eventsPerSecond > 0);
      const last = progress.at(-1);
      assert.ok(last && last.service === service && last.applied === result.events && last.total >= last.applied);
      assert.deepEqual(await liveDigests(service), live, "the swapped-in tables are the live tables now");
    }
  });

  test("the services keep answering during rebuilds and go on from the rebuilt state", async () => {
    const players = genesis.filter((m) => !workload.excluded.has(m.id)).slice(0, 48);
    const played: { gameId: string; candidate: Member; token: string }[] = [];
    let stop = false;
    let queries = 0;
    const failures: unknown[] = [];
    const member = genesis[2]!;
    const reader = (async () => {
      while (!stop) {
        try {
          await system.clients.identity.getMember({ memberId: member.id, minSequence: 0n, consistencyToken: "" });
          await system.clients.matchmaker.getStake({ memberId: member.id, minSequence: 0n, consistencyToken: "" });
          await system.clients.adjudicator.listGames({
            pageSize: 5,
            pageToken: "",
            memberId: member.id,
            phase: 0,
            outcome: 0,
            actionKind: "",
            minSequence: 0n,
            consistencyToken: "",
          });
          queries += 3;
        } catch (error) {
          failures.push(error);
        }
      }
    })();
    const playPair = async (a: Member, b: Member) => {
      const candidate = newMember();
      const proposal = proposeRequest(a, b, admissionOf(candidate));
      await system.clients.matchmaker.propose(proposal);
      const accepted = await system.clients.matchmaker.accept(answerRequest("accept", b, proposal.proposalId));
      await system.clients.adjudicator.getGame(
        { gameId: accepted.gameId, minSequence: 0n, consistencyToken: accepted.consistencyToken },
        { deadlineMs: 10_000 },
      );
      const [sa, sb] = [sealMove("cooperate"), sealMove("cooperate")];
      await system.clients.adjudicator.commitMove(commitRequest(a, accepted.gameId, sa));
      await system.clients.adjudicator.commitMove(commitRequest(b, accepted.gameId, sb));
      await system.clients.adjudicator.revealMove(revealRequest(a, accepted.gameId, sa));
      const last = await system.clients.adjudicator.revealMove(revealRequest(b, accepted.gameId, sb));
      played.push({ gameId: accepted.gameId, candidate, token: last.consistencyToken });
    };
    const pairs = Array.from({ length: players.length / 2 }, (_, i) => [players[2 * i]!, players[2 * i + 1]!] as const);
    const during = pairs.slice(0, 16);
    const afterwards = pairs.slice(16);
    // Games go on while every service is rebuilt in turn.
    const writer = inParallel(during, 2, ([a, b]) => playPair(a, b));
    const results = [];
    for (const service of SERVICES) results.push(await replayOf(service));
    await writer;
    // After the swaps, each live runner carries on from the rebuilt checkpoint.
    await inParallel(afterwards, 4, ([a, b]) => playPair(a, b));
    stop = true;
    await reader;
    assert.deepEqual(failures, [], "a query failed during the rebuilds");
    assert.ok(queries > 0);
    for (const { gameId, candidate, token } of played) {
      const { member: admitted } = await system.clients.identity.getMember({
        memberId: candidate.id,
        minSequence: 0n,
        consistencyToken: token,
      });
      assert.equal(admitted?.gameId, gameId);
    }
    await settled();
    for (const service of SERVICES) {
      const live = await liveDigests(service);
      const rebuilt = await replayOf(service);
      assert.deepEqual(rebuilt.tables, live, `${service}: the live tables went astray after the swap`);
    }
    console.log(
      `rebuilt during traffic: ${results.map((r) => `${r.service} ${r.events} events`).join(", ")}; ${played.length} games, ${queries} queries`,
    );
  });

  test("verify re-checks the adjudicator's log: everything the services wrote checks out, a forged reveal does not", async () => {
    // A game in its reveal phase; then someone appends a reveal whose nonce does not open A's commitment.
    const [a, b] = genesis.filter((m) => !workload.excluded.has(m.id)).slice(60, 62) as [Member, Member];
    const proposal = proposeRequest(a, b, admissionOf(newMember()));
    await system.clients.matchmaker.propose(proposal);
    const accepted = await system.clients.matchmaker.accept(answerRequest("accept", b, proposal.proposalId));
    const gameId = accepted.gameId;
    await system.clients.adjudicator.getGame(
      { gameId, minSequence: 0n, consistencyToken: accepted.consistencyToken },
      { deadlineMs: 10_000 },
    );
    await system.clients.adjudicator.commitMove(commitRequest(a, gameId, sealMove("defect")));
    await system.clients.adjudicator.commitMove(commitRequest(b, gameId, sealMove("cooperate")));
    const forgedNonce = crypto.getRandomValues(new Uint8Array(32));
    const names = streamNames(system.namespace, "adjudicator");
    const subject = `${names.prefix}.game.${gameId}`;
    const envelope = envelopeOf({
      event: {
        $case: "moveRevealed",
        value: {
          gameId,
          memberId: a.id,
          move: Move.MOVE_COOPERATE,
          nonce: forgedNonce,
          signature: sign(revealPayload(TEST_NETWORK, gameId, a.id, "cooperate", forgedNonce), a.keys.secretKey),
          revealedAtMs: BigInt(now),
        },
      },
      subject,
      eventId: `forged-${randomUUID()}`,
      causationId: "forged",
      correlationId: gameId,
      occurredAt: new Date(now),
    });
    const { seq } = await jetstream(system.nc).publish(subject, encodeEnvelope(envelope), {
      headers: envelopeHeaders(envelope),
    });

    const started = performance.now();
    const tampered = await verify({ natsUrl: system.natsUrl, namespace: system.namespace, networkId: TEST_NETWORK });
    console.log(
      `verify: ${tampered.events} events, ${tampered.games} games in ${Math.round(performance.now() - started)} ms`,
    );
    // Every game of the workload and of the rebuild test re-checks; only the forged reveal does not.
    assert.ok(tampered.games > workload.games && tampered.events > tampered.games * 4);
    assert.equal(tampered.mismatches.length, 1, JSON.stringify(tampered.mismatches));
    const [mismatch] = tampered.mismatches;
    assert.equal(mismatch?.seq, seq);
    assert.equal(mismatch?.gameId, gameId);
    assert.match(mismatch?.problem ?? "", /do not open the commitment/);
  });
});
