import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { status } from "@grpc/grpc-js";
import {
  AdmissionKind,
  GamePhase,
  LineageRelation,
  MemberStatus,
  Outcome,
  type LineageEdge,
  type Member as MemberView,
} from "@pot/contracts";
import { DEFAULT_POLICY, type MoveName } from "@pot/mechanism";
import { policyToWire } from "@pot/wire";
import { isStatus } from "./support/clients.js";
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
  signedExclude,
  signedPolicy,
} from "./support/players.js";
import { startSystem, type System } from "./support/system.js";
import { redeemRequest } from "./support/workload.js";

const GENESIS = 12;
const query = { minSequence: 0n, consistencyToken: "" };

/**
 * The query API over the trust state, and read-your-writes across services: a query that passes
 * the consistency token a command returned sees that command's effects in whatever service they
 * land, on the first call, without polling.
 */
describe("trust state queries", () => {
  let system: System;
  let genesis: Member[];
  const now = Date.UTC(2033, 4, 17, 12);
  const today = "2033-05-17";
  let bootstrapToken: string;

  before(async () => {
    system = await startSystem({ clock: "controlled" });
    await system.setClock(now);
    genesis = Array.from({ length: GENESIS }, newMember);
    bootstrapToken = (await bootstrap(system.clients, genesis)).consistencyToken;
    // A member admitted here sponsors a game at once (the same day keeps the daily statistics on one
    // day): no maturity period. test/src/growth.e2e.test.ts covers maturity.
    const { version: _version, ...policy } = DEFAULT_POLICY;
    const published = await system.clients.adjudicator.publishPolicy(
      await signedPolicy(system.clients, {
        requestId: randomUUID(),
        policy: policyToWire({ ...policy, version: 0, growth: { ...policy.growth, maturityPeriodMs: 0 } }),
      }),
    );
    // The matchmaker adopts it in reaction: a query with the publication's token waits for that.
    await system.clients.matchmaker.getStake({
      memberId: genesis[0]!.id,
      minSequence: 0n,
      consistencyToken: [bootstrapToken, published.consistencyToken].join(","),
    });
  });

  after(async () => {
    const codes = await system?.stop();
    assert.deepEqual(codes, [0, 0, 0]);
  });

  /** One game to its last reveal, each step waiting only through the token of the one before. */
  async function play(a: Member, b: Member, moves: [MoveName, MoveName], candidate = newMember()) {
    const { clients } = system;
    const proposal = proposeRequest(a, b, admissionOf(candidate));
    await clients.matchmaker.propose(proposal);
    const accepted = await clients.matchmaker.accept(answerRequest("accept", b, proposal.proposalId));
    const { game } = await clients.adjudicator.getGame({
      gameId: accepted.gameId,
      minSequence: 0n,
      consistencyToken: accepted.consistencyToken,
    });
    assert.equal(game?.phase, GamePhase.GAME_PHASE_COMMIT, "the accept's token waits for the game to start");
    const [sa, sb] = [sealMove(moves[0]), sealMove(moves[1])];
    await clients.adjudicator.commitMove(commitRequest(a, accepted.gameId, sa));
    await clients.adjudicator.commitMove(commitRequest(b, accepted.gameId, sb));
    await clients.adjudicator.revealMove(revealRequest(a, accepted.gameId, sa));
    const last = await clients.adjudicator.revealMove(revealRequest(b, accepted.gameId, sb));
    return { gameId: accepted.gameId, candidate, token: last.consistencyToken, outcome: last.outcome };
  }

  // Filled by the first test, used by the others.
  let x: Member; // sponsored by genesis 0 and 1
  let y: Member; // sponsored by x and genesis 2
  let controlled: Member; // admitted by genesis 3's credit
  let excluded: Member;
  let gameXY: string;

  test("a command's consistency token makes the next query, in any service, see what the command caused", async () => {
    const { clients } = system;
    const [g0, g1, g2, g3, g4] = genesis as [Member, Member, Member, Member, Member];
    // Genesis members are admitted by identity's reaction to the bootstrap, then registered by the matchmaker.
    const { member: first } = await clients.identity.getMember({
      memberId: g0.id,
      minSequence: 0n,
      consistencyToken: bootstrapToken,
    });
    assert.equal(first?.kind, AdmissionKind.ADMISSION_KIND_GENESIS);
    const { stake } = await clients.matchmaker.getStake({
      memberId: g4.id,
      minSequence: 0n,
      consistencyToken: bootstrapToken,
    });
    assert.equal(stake?.available, true);

    // Both cooperate: the last reveal's token shows the candidate admitted by identity and the
    // stakes locked and settled by the matchmaker.
    const cooperated = await play(g0, g1, ["cooperate", "cooperate"]);
    x = cooperated.candidate;
    const { member: admitted, consistencyToken: admission } = await clients.identity.getMember({
      memberId: x.id,
      minSequence: 0n,
      consistencyToken: cooperated.token,
    });
    assert.equal(admitted?.kind, AdmissionKind.ADMISSION_KIND_SPONSORED);
    assert.equal(admitted?.gameId, cooperated.gameId);
    assert.deepEqual([...(admitted?.sponsorIds ?? [])].sort(), [g0.id, g1.id].sort());
    const { stake: locked } = await clients.matchmaker.getStake({
      memberId: g0.id,
      minSequence: 0n,
      consistencyToken: cooperated.token,
    });
    assert.equal(locked?.gameId, cooperated.gameId);
    assert.equal(locked?.available, false);

    // A defects on B: one query each sees the defector's credits and the betrayed sponsor's suspension.
    const betrayal = await play(g3, g4, ["defect", "cooperate"]);
    assert.equal(betrayal.outcome, Outcome.OUTCOME_A_DEFECTED);
    const { member: defector } = await clients.identity.getMember({
      memberId: g3.id,
      minSequence: 0n,
      consistencyToken: betrayal.token,
    });
    assert.equal(defector?.credits, 2);
    const { stake: suspended } = await clients.matchmaker.getStake({
      memberId: g4.id,
      minSequence: 0n,
      consistencyToken: betrayal.token,
    });
    assert.ok(Number(suspended?.suspendedUntilMs) > now);

    // Two hops: the matchmaker registers x in reaction to identity's admission, and the token of
    // identity's answer about x says how far identity's stream had gone.
    assert.match(admission, /^identity:\d+$/);
    const { stake: xStake } = await clients.matchmaker.getStake({
      memberId: x.id,
      minSequence: 0n,
      consistencyToken: admission,
    });
    assert.equal(xStake?.memberId, x.id);
    const second = await play(x, g2, ["cooperate", "cooperate"]);
    y = second.candidate;
    gameXY = second.gameId;
    await clients.identity.getMember({ memberId: y.id, minSequence: 0n, consistencyToken: second.token });

    controlled = newMember();
    const redeemed = await clients.identity.redeemCredit(redeemRequest(g3, controlled));
    const { member: controlledView } = await clients.identity.getMember({
      memberId: controlled.id,
      minSequence: 0n,
      consistencyToken: redeemed.consistencyToken,
    });
    assert.equal(controlledView?.kind, AdmissionKind.ADMISSION_KIND_CONTROLLED);
    assert.equal(controlledView?.controllerId, g3.id);
    const { member: controller } = await clients.identity.getMember({
      memberId: g3.id,
      minSequence: 0n,
      consistencyToken: redeemed.consistencyToken,
    });
    assert.equal(controller?.credits, 1);
    assert.equal(controller?.creditsRedeemed, 1);

    excluded = genesis[11]!;
    const exclusion = await clients.identity.exclude(
      signedExclude({
        requestId: randomUUID(),
        memberId: excluded.id,
        reason: "violated the agreement",
      }),
    );
    const { member: gone } = await clients.identity.getMember({
      memberId: excluded.id,
      minSequence: 0n,
      consistencyToken: exclusion.consistencyToken,
    });
    assert.equal(gone?.status, MemberStatus.MEMBER_STATUS_EXCLUDED);
    assert.equal(gone?.exclusionReason, "violated the agreement");
    const { stake: excludedStake } = await clients.matchmaker.getStake({
      memberId: excluded.id,
      minSequence: 0n,
      consistencyToken: exclusion.consistencyToken,
    });
    assert.equal(excludedStake?.excluded, true);
  });

  test("tokens that cannot be honoured are refused or time out, with the reason", async () => {
    const { clients } = system;
    const refused = async (call: Promise<unknown>, code: status, pattern: RegExp) =>
      assert.rejects(call, (error: Error & { code?: number; details?: string }) => {
        assert.ok(isStatus(error, code), `expected ${status[code]}, got ${error.code}: ${error.details}`);
        assert.match(error.details ?? "", pattern);
        return true;
      });
    await refused(
      clients.identity.getMember({ memberId: genesis[0]!.id, minSequence: 0n, consistencyToken: "adjudicator" }),
      status.INVALID_ARGUMENT,
      /consistency_token/,
    );
    // Identity reacts to the adjudicator only (the adjudicator follows all three streams: identity's for the operator keys).
    await refused(
      clients.identity.getMember({ memberId: genesis[0]!.id, minSequence: 0n, consistencyToken: "matchmaker:1" }),
      status.INVALID_ARGUMENT,
      /does not follow the matchmaker stream/,
    );
    await refused(
      clients.identity.getMember(
        { memberId: genesis[0]!.id, minSequence: 0n, consistencyToken: "adjudicator:999999" },
        { deadlineMs: 400 },
      ),
      status.UNAVAILABLE,
      /not yet handled adjudicator event 999999/,
    );
  });

  test("ListMembers pages through members in admission order, filtered by status and kind", async () => {
    const { clients } = system;
    const all: MemberView[] = [];
    let pageToken = "";
    do {
      const page = await clients.identity.listMembers({ pageSize: 5, pageToken, status: 0, kind: 0, ...query });
      assert.ok(page.members.length <= 5);
      all.push(...page.members);
      pageToken = page.nextPageToken;
    } while (pageToken);
    assert.equal(all.length, GENESIS + 3);
    assert.deepEqual(
      all.slice(0, GENESIS).map((m) => m.memberId),
      genesis.map((m) => m.id),
      "genesis members first, in the order of the bootstrap",
    );
    assert.deepEqual(
      all.slice(GENESIS).map((m) => m.memberId),
      [x.id, y.id, controlled.id],
    );
    const ids = async (status: MemberStatus, kind: AdmissionKind) =>
      (await clients.identity.listMembers({ pageSize: 100, pageToken: "", status, kind, ...query })).members.map(
        (m) => m.memberId,
      );
    assert.equal((await ids(0, AdmissionKind.ADMISSION_KIND_GENESIS)).length, GENESIS);
    assert.deepEqual(await ids(0, AdmissionKind.ADMISSION_KIND_SPONSORED), [x.id, y.id]);
    assert.deepEqual(await ids(0, AdmissionKind.ADMISSION_KIND_CONTROLLED), [controlled.id]);
    assert.deepEqual(await ids(MemberStatus.MEMBER_STATUS_EXCLUDED, 0), [excluded.id]);
    assert.equal(
      (await ids(MemberStatus.MEMBER_STATUS_ACTIVE, AdmissionKind.ADMISSION_KIND_GENESIS)).length,
      GENESIS - 1,
    );

    const firstPage = await clients.identity.listMembers({ pageSize: 2, pageToken: "", status: 0, kind: 0, ...query });
    await assert.rejects(
      clients.identity.listMembers({
        pageSize: 2,
        pageToken: firstPage.nextPageToken,
        status: 0,
        kind: AdmissionKind.ADMISSION_KIND_GENESIS,
        ...query,
      }),
      (error) => isStatus(error, status.INVALID_ARGUMENT),
    );
    await assert.rejects(
      clients.identity.listMembers({ pageSize: 501, pageToken: "", status: 0, kind: 0, ...query }),
      (error) => isStatus(error, status.INVALID_ARGUMENT),
    );
  });

  test("GetLineage walks sponsors and controllers up and admissions down, to a depth", async () => {
    const { clients } = system;
    const [g0, g1, g2, g3] = genesis as [Member, Member, Member, Member];
    const edges = (list: readonly LineageEdge[]) =>
      list
        .map((e) => `${e.parentId.slice(0, 6)}>${e.childId.slice(0, 6)}:${LineageRelation[e.relation]}:${e.depth}`)
        .sort();
    const edge = (parent: Member, child: Member, relation: "SPONSOR" | "CONTROLLER", depth: number) =>
      `${parent.id.slice(0, 6)}>${child.id.slice(0, 6)}:LINEAGE_RELATION_${relation}:${depth}`;

    const ofY = await clients.identity.getLineage({ memberId: y.id, depth: 2, ...query });
    assert.deepEqual(
      edges(ofY.ancestors),
      [
        edge(x, y, "SPONSOR", 1),
        edge(g2, y, "SPONSOR", 1),
        edge(g0, x, "SPONSOR", 2),
        edge(g1, x, "SPONSOR", 2),
      ].sort(),
    );
    assert.deepEqual(ofY.descendants, []);
    const ofG0 = await clients.identity.getLineage({ memberId: g0.id, depth: 0, ...query });
    assert.deepEqual(edges(ofG0.descendants), [edge(g0, x, "SPONSOR", 1), edge(x, y, "SPONSOR", 2)].sort());
    assert.deepEqual(ofG0.ancestors, [], "a genesis member has no parents");
    const shallow = await clients.identity.getLineage({ memberId: g0.id, depth: 1, ...query });
    assert.deepEqual(edges(shallow.descendants), [edge(g0, x, "SPONSOR", 1)]);
    const ofControlled = await clients.identity.getLineage({ memberId: controlled.id, depth: 3, ...query });
    assert.deepEqual(edges(ofControlled.ancestors), [edge(g3, controlled, "CONTROLLER", 1)]);
    assert.equal(ofControlled.truncated, false);
    await assert.rejects(clients.identity.getLineage({ memberId: y.id, depth: 11, ...query }), (error) =>
      isStatus(error, status.INVALID_ARGUMENT),
    );
    await assert.rejects(clients.identity.getLineage({ memberId: newMember().id, depth: 1, ...query }), (error) =>
      isStatus(error, status.NOT_FOUND),
    );
  });

  test("trust edges, games, network and admission statistics, pair cool-downs", async () => {
    const { clients } = system;
    const [g0, g1, , g3, g4] = genesis as [Member, Member, Member, Member, Member];
    const { edges: pair } = await clients.adjudicator.getTrustEdges({
      memberId: g0.id,
      partnerId: g1.id,
      pageSize: 0,
      pageToken: "",
      ...query,
    });
    assert.equal(pair.length, 1);
    assert.equal(pair[0]?.games, 1);
    assert.equal(pair[0]?.mutualCooperations, 1);
    const { edges: ofG3 } = await clients.adjudicator.getTrustEdges({
      memberId: g3.id,
      partnerId: "",
      pageSize: 0,
      pageToken: "",
      ...query,
    });
    assert.deepEqual(
      ofG3.map((e) => [e.partnerId, e.games, e.memberDefections, e.partnerDefections]),
      [[g4.id, 1, 1, 0]],
    );
    const { edges: ofG4 } = await clients.adjudicator.getTrustEdges({
      memberId: g4.id,
      partnerId: "",
      pageSize: 0,
      pageToken: "",
      ...query,
    });
    assert.deepEqual(
      ofG4.map((e) => [e.partnerId, e.memberDefections, e.partnerDefections]),
      [[g3.id, 0, 1]],
    );

    const list = (
      filter: Partial<{ memberId: string; outcome: Outcome; phase: GamePhase; actionKind: string }>,
      pageSize = 50,
      pageToken = "",
    ) =>
      clients.adjudicator.listGames({
        pageSize,
        pageToken,
        memberId: filter.memberId ?? "",
        phase: filter.phase ?? 0,
        outcome: filter.outcome ?? 0,
        actionKind: filter.actionKind ?? "",
        ...query,
      });
    const everything = await list({});
    assert.equal(everything.games.length, 3);
    assert.equal(everything.games[0]?.gameId, gameXY, "newest first");
    assert.ok(everything.games.every((g) => g.actionKind === "admission" && g.actionDigest.length === 32));
    assert.deepEqual(
      (await list({ memberId: x.id })).games.map((g) => g.gameId),
      [gameXY],
    );
    assert.deepEqual(
      (await list({ memberId: x.id })).games.map((g) => g.candidateId),
      [y.id],
    );
    assert.equal((await list({ outcome: Outcome.OUTCOME_A_DEFECTED })).games.length, 1);
    assert.equal((await list({ phase: GamePhase.GAME_PHASE_RESOLVED, actionKind: "admission" })).games.length, 3);
    assert.equal((await list({ actionKind: "post.create" })).games.length, 0);
    const page1 = await list({}, 2);
    const page2 = await list({}, 2, page1.nextPageToken);
    assert.deepEqual(
      [...page1.games, ...page2.games].map((g) => g.gameId),
      everything.games.map((g) => g.gameId),
    );
    assert.equal(page2.nextPageToken, "");

    const stats = await clients.adjudicator.getNetworkStats({ fromDay: "", toDay: "", ...query });
    assert.deepEqual(
      stats.days.map((d) => d.day),
      [today],
    );
    assert.equal(stats.total?.gamesStarted, 3);
    assert.equal(stats.total?.bothCooperated, 2);
    assert.equal(stats.total?.aDefected, 1);
    assert.equal(stats.total?.admissions, 2);
    assert.equal(stats.total?.creditsAwarded, 2);
    assert.equal(stats.total?.suspensions, 1);
    assert.equal(stats.total?.cooperationRate, 5 / 6);
    const admissions = await clients.identity.getAdmissionStats({ fromDay: today, toDay: today, ...query });
    assert.deepEqual(admissions.total, { day: "", genesis: GENESIS, sponsored: 2, controlled: 1 });
    const empty = await clients.identity.getAdmissionStats({ fromDay: "2033-01-01", toDay: "2033-01-31", ...query });
    assert.deepEqual(empty.days, []);

    const { cooldown } = await clients.matchmaker.getPairCooldown({ memberId: g1.id, partnerId: g0.id, ...query });
    assert.equal(cooldown?.coolingDown, true);
    assert.ok(Number(cooldown?.untilMs) > now);
    const { cooldown: never } = await clients.matchmaker.getPairCooldown({
      memberId: g0.id,
      partnerId: g4.id,
      ...query,
    });
    assert.deepEqual([never?.coolingDown, never?.untilMs, never?.gameId], [false, 0n, ""]);
  });
});
