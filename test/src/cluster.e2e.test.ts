import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AdmissionKind, GetMemberRequest, GetPolicyRequest, Outcome } from "@pot/contracts";
import {
  createTestDatabase,
  ensureServers,
  startServiceProcess,
  uniqueNamespace,
  type ServiceProcess,
  type Servers,
  type TestDatabase,
} from "@pot/devenv";
import { durableName, streamNames } from "@pot/event-store";
import { connectClients, eventually, type Clients } from "./support/clients.js";
import { startNatsCluster, type NatsCluster } from "./support/nats-cluster.js";
import {
  admissionOf,
  answerRequest,
  bootstrap,
  commitRequest,
  newMember,
  proposeRequest,
  revealRequest,
  sealMove,
  TEST_NETWORK,
  type Member,
} from "./support/players.js";
import { SERVICES } from "./support/system.js";
import { testPki } from "./support/tls.js";

/**
 * The services against a 3-node NATS cluster started from infra/nats/cluster-node.conf (the file
 * production uses, without production.conf's sync_interval, which 2.9.10 rejects), with every
 * stream at 3 replicas. A game is played, the node leading the adjudicator's stream is killed, and
 * another game is played on the two nodes left: failover, not a proof of optimistic concurrency on
 * R3 (before 2.9.21 two publishes with the same expected sequence could both succeed there).
 */
describe("the services on a 3-node NATS cluster, streams at 3 replicas", () => {
  let cluster: NatsCluster;
  let servers: Servers;
  let database: TestDatabase;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let clients: Clients;
  const services: ServiceProcess[] = [];
  const namespace = uniqueNamespace("c");

  before(async () => {
    cluster = await startNatsCluster(3);
    servers = await ensureServers();
    database = await createTestDatabase(servers.databaseUrl);
    const pki = await testPki();
    for (const name of SERVICES) {
      services.push(
        await startServiceProcess({
          name,
          natsUrl: cluster.natsUrl,
          databaseUrl: database.url,
          namespace,
          tls: pki,
          env: { STREAM_REPLICAS: "3", POT_NETWORK_ID: TEST_NETWORK },
        }),
      );
    }
    const [identity, matchmaker, adjudicator] = services.map((s) => s.grpcAddress) as [string, string, string];
    clients = connectClients({ identity, matchmaker, adjudicator }, pki);
    nc = await connect({ servers: cluster.natsUrl.split(","), maxReconnectAttempts: -1 });
    jsm = await jetstreamManager(nc);
  });

  after(async () => {
    clients?.close();
    const codes = await Promise.all(services.map((s) => s.stop()));
    await nc?.close();
    // The streams go with the cluster's store directories.
    await cluster?.stop();
    await database?.drop();
    await servers?.stop();
    assert.deepEqual(codes, [0, 0, 0], "every service shuts down cleanly on SIGTERM");
  });

  /**
   * One cooperative game, each call retried with the same request until it succeeds: every command
   * is idempotent (keyed by its request), so a retry after a lost reply or a failover is safe.
   */
  async function play(a: Member, b: Member, candidate: Member, timeoutMs: number) {
    const retry = <T>(what: string, call: () => Promise<T>) => eventually(what, call, timeoutMs);
    const proposal = proposeRequest(a, b, admissionOf(candidate));
    await retry("propose", () => clients.matchmaker.propose(proposal));
    const { gameId } = await retry("accept", () =>
      clients.matchmaker.accept(answerRequest("accept", b, proposal.proposalId)),
    );
    const [sealedA, sealedB] = [sealMove("cooperate"), sealMove("cooperate")];
    await retry("commit A", () => clients.adjudicator.commitMove(commitRequest(a, gameId, sealedA)));
    await retry("commit B", () => clients.adjudicator.commitMove(commitRequest(b, gameId, sealedB)));
    await retry("reveal A", () => clients.adjudicator.revealMove(revealRequest(a, gameId, sealedA)));
    return retry("reveal B", () => clients.adjudicator.revealMove(revealRequest(b, gameId, sealedB)));
  }

  async function admitted(candidate: Member) {
    return eventually(
      `${candidate.id.slice(0, 8)} admitted`,
      async () => (await clients.identity.getMember(GetMemberRequest.fromPartial({ memberId: candidate.id }))).member,
      30_000,
    );
  }

  test("streams and consumers are replicated; a game survives the loss of a stream leader", async () => {
    const [a, b, c, d] = [newMember(), newMember(), newMember(), newMember()];
    await bootstrap(clients, [a, b, c, d]);
    await eventually("the default policy", async () =>
      (await clients.adjudicator.getPolicy(GetPolicyRequest.fromPartial({ version: 0 }))).policy?.version === 1
        ? true
        : undefined,
    );

    // A raft group reports all its peers as replicas until it has elected a leader: wait for one.
    for (const service of SERVICES) {
      const info = await eventually(`${service}'s stream has a leader`, async () => {
        const found = await jsm.streams.info(streamNames(namespace, service).stream);
        return found.cluster?.leader ? found : undefined;
      });
      assert.equal(info.config.num_replicas, 3, `${service}'s stream at 3 replicas`);
      assert.equal(info.cluster?.replicas?.length, 2, `${service}'s stream has a leader and two followers`);
    }
    // A durable consumer follows its stream's replication (num_replicas 0 = the stream's).
    const reaction = await eventually("the identity's reaction consumer has a leader and two followers", async () => {
      const found = await jsm.consumers.info(
        streamNames(namespace, "adjudicator").stream,
        durableName(namespace, "identity", "react", "adjudicator"),
      );
      return found.cluster?.leader && found.cluster.replicas?.length === 2 ? found : undefined;
    });
    assert.equal(reaction.cluster?.replicas?.length, 2, "the consumer is replicated like its stream");

    const first = newMember();
    const game1 = await play(a, b, first, 15_000);
    assert.equal(game1.outcome, Outcome.OUTCOME_BOTH_COOPERATED);
    assert.equal((await admitted(first)).kind, AdmissionKind.ADMISSION_KIND_SPONSORED);

    const stream = streamNames(namespace, "adjudicator").stream;
    const leader = (await jsm.streams.info(stream)).cluster?.leader;
    const victim = cluster.nodes.find((node) => node.name === leader);
    assert.ok(victim, `the leader of ${stream} (${leader}) is one of ours`);
    const killedAt = Date.now();
    await victim.kill();

    const second = newMember();
    const game2 = await play(c, d, second, 60_000);
    assert.equal(game2.outcome, Outcome.OUTCOME_BOTH_COOPERATED);
    assert.equal((await admitted(second)).kind, AdmissionKind.ADMISSION_KIND_SPONSORED);
    const newLeader = await eventually("a new leader", async () => (await jsm.streams.info(stream)).cluster?.leader);
    assert.notEqual(newLeader, victim.name);
    console.log(
      `killed ${victim.name} (leader of ${stream}); ${newLeader} leads it now; game 2 done ${Date.now() - killedAt} ms after the kill`,
    );
  });
});
