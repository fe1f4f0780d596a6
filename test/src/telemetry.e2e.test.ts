import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { GetMemberRequest, GetPolicyRequest, Outcome, RedeemCreditRequest } from "@pot/contracts";
import {
  createTestDatabase,
  deleteNamespace,
  ensureServers,
  freePort,
  startServiceProcess,
  uniqueNamespace,
  type Pki,
  type ServiceName,
  type ServiceProcess,
  type Servers,
  type TestDatabase,
} from "@pot/devenv";
import { redeemPayload, sign, type MoveName } from "@pot/mechanism";
import { METRICS, prometheusName } from "@pot/telemetry";
import { eventually } from "./support/clients.js";
import { clientCredentials, testPki } from "./support/tls.js";
import { dashboardMetricNames, scrapeFamilies } from "./support/prometheus.js";
import { OtlpReceiver, renderTree, type ReceivedSpan } from "./support/otlp-receiver.js";
import {
  admissionOf,
  answerRequest,
  bootstrap,
  commitRequest,
  controlledConsent,
  newMember,
  proposeRequest,
  revealRequest,
  sealMove,
  TEST_NETWORK,
  type Member,
  signedExclude,
} from "./support/players.js";
import { newTrace, tracedClients, type ClientTrace } from "./support/traced-clients.js";
import { SERVICES } from "./support/system.js";

/**
 * Telemetry end to end: the three services export to an OTLP/HTTP receiver run by this test
 * (JSON encoding), and expose Prometheus endpoints. One game played under one client trace must
 * come back as one connected trace across the three services: gRPC server span -> JetStream
 * publish -> consumer in the next service -> Postgres writes -> its own publishes.
 */
describe("telemetry: one trace per game, every metric exported", () => {
  let servers: Servers;
  let database: TestDatabase;
  const namespace = uniqueNamespace("o");
  const receiver = new OtlpReceiver();
  const services = new Map<ServiceName, ServiceProcess>();
  const metricsPorts = new Map<ServiceName, number>();
  let clients: ReturnType<typeof tracedClients>;
  let envFor: (name: ServiceName) => Record<string, string>;
  let pki: Pki;

  const launch = async (name: ServiceName, port?: number) => {
    const process = await startServiceProcess({
      name,
      natsUrl: servers.natsUrl,
      databaseUrl: database.url,
      namespace,
      tls: pki,
      env: envFor(name),
      ...(port ? { port } : {}),
    });
    services.set(name, process);
    return process;
  };

  before(async () => {
    servers = await ensureServers();
    database = await createTestDatabase(servers.databaseUrl);
    pki = await testPki();
    const endpoint = await receiver.start();
    for (const name of SERVICES) metricsPorts.set(name, await freePort());
    envFor = (name) => ({
      POT_NETWORK_ID: TEST_NETWORK,
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_TRACES_EXPORTER: "otlp",
      OTEL_METRICS_EXPORTER: "otlp",
      OTEL_LOGS_EXPORTER: "none",
      OTEL_BSP_SCHEDULE_DELAY: "100",
      OTEL_METRIC_EXPORT_INTERVAL: "500",
      OTEL_METRIC_EXPORT_TIMEOUT: "400",
      METRICS_PORT: String(metricsPorts.get(name)),
      LOG_LEVEL: "debug",
    });
    await Promise.all(SERVICES.map((name) => launch(name)));
    const address = (name: ServiceName) => services.get(name)!.grpcAddress;
    clients = tracedClients(
      {
        identity: address("identity"),
        matchmaker: address("matchmaker"),
        adjudicator: address("adjudicator"),
      },
      clientCredentials(pki),
    );
  });

  after(async () => {
    clients?.close();
    const codes = await Promise.all([...services.values()].map((s) => s.stop()));
    await receiver.stop();
    await deleteNamespace(servers.natsUrl, namespace);
    await database?.drop();
    await servers?.stop();
    assert.deepEqual(codes, [0, 0, 0], "every service shuts down cleanly on SIGTERM, telemetry flushed");
  });

  /** Proposes, accepts (b), and waits for the adjudicator to have started the game. */
  async function open(a: Member, b: Member, candidate: Member) {
    const proposal = proposeRequest(a, b, admissionOf(candidate));
    await clients.matchmaker.propose(proposal);
    const accepted = await clients.matchmaker.accept(answerRequest("accept", b, proposal.proposalId));
    return accepted.gameId;
  }

  async function finish(gameId: string, a: Member, b: Member, moves: [MoveName, MoveName]) {
    const sealedA = sealMove(moves[0]);
    const sealedB = sealMove(moves[1]);
    await eventually(`game ${gameId} to start`, () =>
      clients.adjudicator.commitMove(commitRequest(a, gameId, sealedA)),
    );
    await clients.adjudicator.commitMove(commitRequest(b, gameId, sealedB));
    await clients.adjudicator.revealMove(revealRequest(a, gameId, sealedA));
    return clients.adjudicator.revealMove(revealRequest(b, gameId, sealedB));
  }

  test("a game is one trace across the three services; replays link; logs carry the ids; every metric is exported", async () => {
    const [a, b, c, d] = [newMember(), newMember(), newMember(), newMember()];
    await bootstrap(clients, [a, b, c, d]);
    await eventually("the default policy", async () =>
      (await clients.adjudicator.getPolicy(GetPolicyRequest.fromPartial({ version: 0 }))).policy?.version === 1
        ? true
        : undefined,
    );

    // Game 1, all of it under one client trace.
    const game: ClientTrace = newTrace();
    clients.use(game);
    const candidate = newMember();
    const gameId = await open(a, b, candidate);
    const last = await finish(gameId, a, b, ["cooperate", "cooperate"]);
    assert.equal(last.outcome, Outcome.OUTCOME_BOTH_COOPERATED);
    await eventually(
      "the candidate admitted",
      async () => (await clients.identity.getMember(GetMemberRequest.fromPartial({ memberId: candidate.id }))).member,
    );
    clients.use(undefined);
    const adjudicatorLogs = services.get("adjudicator")!.logs();

    // Game 2: opened in one trace; the adjudicator restarts with an empty cache; the commit (a
    // trace of its own) catches the game up from the log: a replay, which links to the publish.
    const opening = newTrace();
    clients.use(opening);
    const gameId2 = await open(c, d, newMember());
    clients.use(undefined);
    await eventually("game 2 started", () =>
      receiver.spans.find((s) => s.traceId === opening.traceId && s.name === "publish pot.v1.GameStarted")
        ? Promise.resolve(true)
        : Promise.resolve(undefined),
    );
    const port = Number(services.get("adjudicator")!.grpcAddress.split(":").pop());
    assert.equal(await services.get("adjudicator")!.stop(), 0);
    await launch("adjudicator", port);
    const committing = newTrace();
    clients.use(committing);
    const resolved = await finish(gameId2, c, d, ["defect", "cooperate"]);
    clients.use(undefined);
    assert.equal(resolved.outcome, Outcome.OUTCOME_A_DEFECTED);

    // The defector redeems a credit; the candidate of game 1 is excluded.
    const controlled = newMember();
    await eventually("a credit redeemed", () => {
      const requestId = randomUUID();
      return clients.identity.redeemCredit(
        RedeemCreditRequest.fromPartial({
          requestId,
          memberId: c.id,
          consent: controlledConsent(controlled, c),
          signature: sign(redeemPayload(TEST_NETWORK, c.id, controlled.keys.publicKey, requestId), c.keys.secretKey),
        }),
      );
    });
    await clients.identity.exclude(
      signedExclude({ requestId: randomUUID(), memberId: candidate.id, reason: "telemetry test" }),
    );

    // --- Traces --------------------------------------------------------------------------------
    const spans = await eventually("game 1's trace to reach every service", async () => {
      const trace = receiver.trace(game.traceId);
      const admitted = trace.some((s) => s.name === "publish pot.v1.MemberAdmitted");
      const registered = trace.some((s) => s.name === "publish pot.v1.SponsorRegistered");
      return admitted && registered ? trace : undefined;
    });
    const tree = renderTree(spans, game.calls);
    console.log(`one game's trace (${spans.length} spans, trace id ${game.traceId}):\n${tree}`);
    assert.deepEqual(new Set(spans.map((s) => s.service)), new Set(SERVICES), "one trace id across all three");
    for (const span of spans.filter((s) => s.kind === "server")) {
      assert.ok(game.calls.has(span.parentSpanId), `${span.name}'s parent is the caller's span`);
    }

    const child = (parent: ReceivedSpan, name: string | RegExp, service: ServiceName, kind?: ReceivedSpan["kind"]) => {
      const found = spans.find(
        (s) =>
          s.parentSpanId === parent.spanId &&
          s.service === service &&
          (typeof name === "string" ? s.name === name : name.test(s.name)) &&
          (kind === undefined || s.kind === kind),
      );
      assert.ok(found, `no ${String(name)} [${service}] under ${parent.name} [${parent.service}]:\n${tree}`);
      return found;
    };
    const postgresWrite = (parent: ReceivedSpan, service: ServiceName) => {
      const writes = spans.filter(
        (s) =>
          s.parentSpanId === parent.spanId &&
          s.service === service &&
          s.scope === "@opentelemetry/instrumentation-pg" &&
          /INSERT|UPDATE/i.test(`${s.name} ${String(s.attributes["db.statement"] ?? s.attributes["db.query.text"])}`),
      );
      assert.ok(writes.length > 0, `no Postgres write under ${parent.name} [${parent.service}]:\n${tree}`);
    };

    // Accept -> GameOpened -> the adjudicator's reaction -> GameStarted -> its projection -> Postgres.
    const accept = spans.find((s) => s.name === "pot.v1.MatchmakerService/Accept" && s.kind === "server");
    assert.ok(accept, `no Accept server span:\n${tree}`);
    assert.equal(accept.service, "matchmaker");
    const opened = child(accept, "publish pot.v1.GameOpened", "matchmaker", "producer");
    const reaction = child(opened, "process pot.v1.GameOpened", "adjudicator", "consumer");
    const started = child(reaction, "publish pot.v1.GameStarted", "adjudicator", "producer");
    postgresWrite(child(started, /^project /, "adjudicator", "consumer"), "adjudicator");
    postgresWrite(child(opened, /^project /, "matchmaker", "consumer"), "matchmaker");

    // RevealMove -> GameResolved -> identity's reaction -> MemberAdmitted -> the matchmaker's reaction.
    const reveal = spans.find(
      (s) =>
        s.name === "pot.v1.AdjudicatorService/RevealMove" &&
        spans.some((p) => p.parentSpanId === s.spanId && p.name === "publish pot.v1.GameResolved"),
    );
    assert.ok(reveal, `no RevealMove that resolved the game:\n${tree}`);
    const gameResolved = child(reveal, "publish pot.v1.GameResolved", "adjudicator", "producer");
    const admission = child(gameResolved, "process pot.v1.GameResolved", "identity", "consumer");
    const admitted = child(admission, "publish pot.v1.MemberAdmitted", "identity", "producer");
    postgresWrite(child(admitted, /^project /, "identity", "consumer"), "identity");
    const registration = child(admitted, "process pot.v1.MemberAdmitted", "matchmaker", "consumer");
    child(registration, "publish pot.v1.SponsorRegistered", "matchmaker", "producer");
    const settlement = child(gameResolved, "process pot.v1.GameResolved", "matchmaker", "consumer");
    child(settlement, "publish pot.v1.StakesSettled", "matchmaker", "producer");

    // The restarted adjudicator's catch-up is a replay: a span in the commit's trace, linked to the
    // publish of GameStarted in the opening's trace, not a child of it.
    const startedOpening = receiver.spans.find(
      (s) => s.traceId === opening.traceId && s.name === "publish pot.v1.GameStarted",
    );
    assert.ok(startedOpening);
    const replay = await eventually("the catch-up's replay span", async () =>
      receiver.spans.find(
        (s) =>
          s.traceId === committing.traceId &&
          s.name === "replay game" &&
          s.links.some((link) => link.spanId === startedOpening.spanId),
      ),
    );
    assert.equal(replay.service, "adjudicator");
    assert.notEqual(replay.traceId, startedOpening.traceId, "a replay joins no earlier trace");

    // --- Logs ----------------------------------------------------------------------------------
    const lines = adjudicatorLogs
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const calls = lines.filter((line) => line.msg === "call completed");
    assert.ok(calls.length > 0, "the adjudicator logged its calls (LOG_LEVEL=debug)");
    for (const line of calls) {
      assert.match(String(line.trace_id), /^[0-9a-f]{32}$/, `trace_id on ${JSON.stringify(line)}`);
      assert.match(String(line.span_id), /^[0-9a-f]{16}$/, `span_id on ${JSON.stringify(line)}`);
    }
    const revealLine = calls.find((line) => line.span_id === reveal.spanId);
    assert.ok(revealLine, "the RevealMove call's log line carries its server span's id");
    assert.equal(revealLine.trace_id, game.traceId);

    // --- Metrics, by OTLP ----------------------------------------------------------------------
    await eventually(
      "the domain counters",
      async () => {
        const at = (key: keyof typeof METRICS, where = {}) => receiver.counter(METRICS[key].name, where);
        const ok =
          at("gamesOpened", { "pot.action.kind": "admission" }) >= 2 &&
          at("gamesResolved", { "pot.outcome": "both_cooperated" }) >= 1 &&
          at("gamesResolved", { "pot.outcome": "a_defected" }) >= 1 &&
          at("membersAdmitted", { "pot.admission.kind": "genesis" }) >= 4 &&
          at("membersAdmitted", { "pot.admission.kind": "sponsored" }) >= 1 &&
          at("membersAdmitted", { "pot.admission.kind": "controlled" }) >= 1 &&
          at("sponsorsSuspended", { "pot.suspension.reason": "game" }) >= 1 &&
          at("sponsorsSuspended", { "pot.suspension.reason": "exclusion" }) >= 2 &&
          at("membersExcluded") >= 1 &&
          at("creditsIssued") >= 2 &&
          at("creditsRedeemed") >= 1 &&
          at("movesRevealed", { "pot.move": "cooperate" }) >= 3 &&
          at("movesRevealed", { "pot.move": "defect" }) >= 1;
        return ok ? true : undefined;
      },
      20_000,
    );
    const exported = await eventually("every metric by OTLP", async () => {
      const names = receiver.metricNames();
      return Object.values(METRICS).every((metric) => names.has(metric.name)) ? names : undefined;
    });
    assert.ok(receiver.counter(METRICS.rpcDuration.name, { "pot.rpc.status": "OK" }) > 0);
    assert.ok(receiver.counter(METRICS.publishDuration.name, { "pot.result": "ok" }) > 0);
    for (const metric of Object.values(METRICS)) assert.ok(exported.has(metric.name), metric.name);
    assert.deepEqual(receiver.problems, [], "the receiver understood every export");

    // --- Metrics, by Prometheus scrape ---------------------------------------------------------
    const families = new Set<string>();
    for (const name of SERVICES) {
      for (const family of await scrapeFamilies(`http://127.0.0.1:${metricsPorts.get(name)}/metrics`)) {
        families.add(family);
      }
    }
    for (const metric of Object.values(METRICS)) {
      assert.ok(families.has(prometheusName(metric)), `${prometheusName(metric)} on a /metrics endpoint`);
    }
    const series = new Set(
      [...families].flatMap((family) => [family, `${family}_bucket`, `${family}_sum`, `${family}_count`]),
    );
    for (const name of dashboardMetricNames()) {
      assert.ok(series.has(name), `the dashboard's ${name} is exported by a service`);
    }
  });
});
