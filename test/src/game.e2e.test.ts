import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AdmissionKind, MemberStatus, Outcome } from "@pot/contracts";
import {
  createTestDatabase,
  deleteNamespace,
  ensureServers,
  startServiceProcess,
  uniqueNamespace,
  type ServiceProcess,
  type Servers,
} from "@pot/devenv";
import { DEFAULT_POLICY } from "@pot/mechanism";
import { streamNames } from "@pot/event-store";
import { connectClients, eventually, type Clients } from "./support/clients.js";
import { admissionOf, bootstrap, newMember, playGame, TEST_NETWORK } from "./support/players.js";
import { readStream, typesOf } from "./support/streams.js";
import { SERVICES } from "./support/system.js";
import { testPki } from "./support/tls.js";

/**
 * The walking skeleton: the three services as separate processes, real NATS JetStream, real
 * Postgres, real gRPC over sockets; one game played from genesis to the new member.
 */
describe("one Proof-of-Trust game end to end", () => {
  let servers: Servers;
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let services: ServiceProcess[] = [];
  let clients: Clients;
  let nc: NatsConnection;
  const namespace = uniqueNamespace("e");

  before(async () => {
    servers = await ensureServers();
    database = await createTestDatabase(servers.databaseUrl);
    const pki = await testPki();
    const common = {
      natsUrl: servers.natsUrl,
      databaseUrl: database.url,
      namespace,
      tls: pki,
      env: { POT_NETWORK_ID: TEST_NETWORK },
    };
    services = await Promise.all(SERVICES.map((name) => startServiceProcess({ ...common, name })));
    const [identity, matchmaker, adjudicator] = services.map((s) => s.grpcAddress) as [string, string, string];
    clients = connectClients({ identity, matchmaker, adjudicator }, pki);
    nc = await connect({ servers: servers.natsUrl });
  });

  after(async () => {
    clients?.close();
    const codes = await Promise.all(services.map((s) => s.stop()));
    await nc?.close();
    await deleteNamespace(servers.natsUrl, namespace);
    await database?.drop();
    await servers?.stop();
    assert.deepEqual(codes, [0, 0, 0], "every service shuts down cleanly on SIGTERM");
  });

  test("genesis -> propose -> accept -> commit -> reveal -> the candidate is a member sponsored by A and B", async () => {
    const started = Date.now();
    const a = newMember();
    const b = newMember();
    const candidate = newMember();
    await bootstrap(clients, [a, b]);
    await eventually("the default policy to reach the matchmaker", async () => {
      const policy = await clients.adjudicator.getPolicy({ version: 0 });
      return policy.policy?.version === 1 ? policy : undefined;
    });

    const proposed = Date.now();
    const { gameId, accepted, last } = await eventually("a first game to be playable", () =>
      playGame(clients, a, b, admissionOf(candidate), ["cooperate", "cooperate"]),
    );
    assert.equal(last.outcome, Outcome.OUTCOME_BOTH_COOPERATED);

    const { member } = await eventually("the candidate to be admitted", () =>
      clients.identity.getMember({ memberId: candidate.id, minSequence: 0n, consistencyToken: "" }),
    );
    const gameMs = Date.now() - started;
    const playMs = Date.now() - proposed;
    assert.ok(member);
    assert.equal(member.kind, AdmissionKind.ADMISSION_KIND_SPONSORED);
    assert.equal(member.status, MemberStatus.MEMBER_STATUS_ACTIVE);
    assert.deepEqual([...member.sponsorIds].sort(), [a.id, b.id].sort());
    assert.equal(member.gameId, gameId);
    assert.equal(member.agreementVersion, 1);

    // Both stakes stay locked until the stake period ends, whatever the outcome.
    const lockedUntil = accepted.stakeLockedUntilMs;
    for (const sponsor of [a, b]) {
      const { stake } = await clients.matchmaker.getStake({
        memberId: sponsor.id,
        minSequence: 0n,
        consistencyToken: "",
      });
      assert.equal(stake?.available, false);
      assert.equal(stake?.lockedUntilMs, lockedUntil);
      assert.equal(stake?.gameId, gameId);
    }
    const { game } = await eventually("the game projection to show the resolution", async () => {
      const response = await clients.adjudicator.getGame({ gameId, minSequence: 0n, consistencyToken: "" });
      return response.game?.outcome === Outcome.OUTCOME_BOTH_COOPERATED ? response : undefined;
    });
    assert.equal(Number(lockedUntil) - Number(game?.openedAtMs), DEFAULT_POLICY.admission.stakePeriodMs);

    // The ordered events on every stream.
    const identity = await eventually("identity's last event", async () => {
      const events = await readStream(nc, streamNames(namespace, "identity").stream);
      return events.length >= 4 ? events : undefined;
    });
    assert.deepEqual(typesOf(identity), ["NetworkBootstrapped", "MemberAdmitted", "MemberAdmitted", "MemberAdmitted"]);
    const adjudicator = await readStream(nc, streamNames(namespace, "adjudicator").stream);
    assert.deepEqual(typesOf(adjudicator), [
      "PolicyPublished",
      // The operator keys named at genesis, adopted from identity's NetworkBootstrapped (before any game).
      "OperatorKeysAdopted",
      "GameStarted",
      "MoveCommitted",
      "MoveCommitted",
      "MoveRevealed",
      "MoveRevealed",
      "GameResolved",
    ]);
    const matchmaker = await eventually("matchmaker's last events", async () => {
      const events = await readStream(nc, streamNames(namespace, "matchmaker").stream);
      return events.length >= 9 ? events : undefined;
    });
    const types = typesOf(matchmaker);
    // Reactions to two other streams interleave: order is fixed within each cause, not across them.
    assert.deepEqual(types.slice(0, 5).sort(), [
      "AgreementAdopted",
      "OperatorKeysRecorded",
      "PolicyAdopted",
      "SponsorRegistered",
      "SponsorRegistered",
    ]);
    assert.deepEqual(types.slice(5, 7), ["ProposalMade", "GameOpened"]);
    assert.deepEqual(types.slice(7).sort(), ["SponsorRegistered", "StakesSettled"]);
    // One correlation id follows the game from the opening to the admission.
    const admitted = identity.at(-1)!;
    assert.equal(admitted.envelope.correlationId, gameId);
    console.log(`one game end to end: ${playMs} ms from Propose to the member visible (${gameMs} ms from Bootstrap)`);
  });
});
