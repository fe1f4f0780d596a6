import {
  AggregateRepository,
  connectService,
  DeadLetters,
  durableName,
  EventStore,
  startReactor,
  startWhenAvailable,
  streamNames,
} from "@pot/event-store";
import { ConsistencyGate, openDatabase, readModelSchema, startReadModels } from "@pot/projections";
import { createGrpcServer, grpcServerOptions, type Logger, refusingForgedEvents } from "@pot/service-kit";
import { MatchmakerServiceService, matchmakerHandlers } from "./adapters/grpc/handlers.js";
import { ledgerAggregate } from "./adapters/nats/codec.js";
import { Matchmaker } from "./application/matchmaker.js";
import type { MatchmakerConfig } from "./config.js";
import { matchmakerMetrics } from "./metrics.js";
import { readModels, type MatchmakerDatabase } from "./read-models/index.js";

export interface StartOptions {
  readonly now?: () => number;
}

/** Ledger appends in flight at once: the matchmaker's commands all go through its one aggregate. */
const LEDGER_PIPELINE = 128;
/**
 * Requests to the ledger remembered with what they appended (their first answer), rebuilt from the
 * log on start: every command of the network goes through the one ledger, so the window is a count
 * of its latest causations (about 12 MB), not a time. A retry older than that is decided again:
 * refused or a no-op as the ledger's rules say, with the ledger's current sequence.
 */
const LEDGER_CAUSATIONS = 20_000;
/** How long a reaction waits for identity's events before deciding that an operator key set was never named. */
const OPERATOR_KEYS_WAIT_MS = 5_000;

export async function startMatchmaker(config: MatchmakerConfig, logger: Logger, options: StartOptions = {}) {
  const ns = config.namespace;
  const { nc, clock } = await connectService({
    servers: config.natsServers,
    credentials: config.natsCredentials,
    namespace: ns,
    service: "matchmaker",
    clock: config.clock,
    logger,
  });
  const now = options.now ?? (() => clock.now());
  const store = await EventStore.open(nc, streamNames(ns, "matchmaker"), {
    replicas: config.streamReplicas,
    onAppended: matchmakerMetrics(),
  });
  // Where this service's consumers put the events they give up on (docs/operations.md, dead letters).
  const deadLetters = await DeadLetters.open(nc, ns, "matchmaker", { replicas: config.streamReplicas, logger });
  const database = await openDatabase<MatchmakerDatabase>({
    url: config.databaseUrl,
    ...(config.databaseQueryUrl !== undefined ? { queryUrl: config.databaseQueryUrl } : {}),
    schema: readModelSchema(ns, readModels),
    migrations: readModels.migrations,
    logger,
  });
  // The ledger is alone on the matchmaker's stream, so its appends can be pipelined (see RepositoryOptions).
  const ledger = new AggregateRepository(store, ledgerAggregate, {
    logger,
    pipeline: LEDGER_PIPELINE,
    maxCausations: LEDGER_CAUSATIONS,
  });
  let identityCaughtUp = async (): Promise<void> => undefined;
  const matchmaker = new Matchmaker(ledger, now, config.networkId, () => identityCaughtUp());
  const views = await startReadModels({
    models: readModels,
    db: database.db,
    store,
    namespace: ns,
    logger,
    deadLetters,
    deadLetterAfter: config.deadLetterAfter,
  });
  const consistency = new ConsistencyGate({
    jsm: store.jsm,
    maxWaitMs: config.consistencyWaitMaxMs,
    namespace: ns,
    service: "matchmaker",
    projections: views.runners,
    reactions: [
      { source: "identity", durable: durableName(ns, "matchmaker", "react", "identity") },
      { source: "adjudicator", durable: durableName(ns, "matchmaker", "react", "adjudicator") },
    ],
  });
  const identity = streamNames(ns, "identity");
  const adjudicator = streamNames(ns, "adjudicator");
  identityCaughtUp = async () => {
    const last = (await store.jsm.streams.info(identity.stream)).state.last_seq;
    await consistency.waitFor({ stream: "identity", seq: last }, OPERATOR_KEYS_WAIT_MS);
  };
  const reactions = [
    startWhenAvailable(
      `reactions to ${identity.stream}`,
      () =>
        startReactor({
          store,
          deadLetters,
          deadLetterAfter: config.deadLetterAfter,
          sourceStream: identity.stream,
          durable: durableName(ns, "matchmaker", "react", "identity"),
          handle: consistency.track(
            "identity",
            refusingForgedEvents(
              durableName(ns, "matchmaker", "react", "identity"),
              (event) => matchmaker.onIdentityEvent(event),
              logger,
            ),
          ),
          logger,
        }),
      { logger },
    ),
    startWhenAvailable(
      `reactions to ${adjudicator.stream}`,
      () =>
        startReactor({
          store,
          deadLetters,
          deadLetterAfter: config.deadLetterAfter,
          sourceStream: adjudicator.stream,
          durable: durableName(ns, "matchmaker", "react", "adjudicator"),
          handle: consistency.track(
            "adjudicator",
            refusingForgedEvents(
              durableName(ns, "matchmaker", "react", "adjudicator"),
              (event) => matchmaker.onAdjudicatorEvent(event),
              logger,
            ),
          ),
          logger,
        }),
      { logger },
    ),
  ];

  const grpc = createGrpcServer({
    logger,
    transport: config.grpcTransport,
    serverOptions: grpcServerOptions(config.grpc),
    services: [
      {
        name: "pot.v1.MatchmakerService",
        definition: MatchmakerServiceService,
        implementation: matchmakerHandlers({ matchmaker, db: database.queryDb, consistency, now, logger }),
      },
    ],
  });
  const port = await grpc.bind(config.grpcAddress);
  grpc.markServing();
  return {
    port,
    matchmaker,
    async close() {
      await grpc.shutdown(config.shutdownGraceMs);
      await Promise.all(reactions.map((r) => r.stop()));
      await views.stop();
      await clock.close();
      await nc.drain();
      await database.close();
    },
  };
}

export { readModels, type MatchmakerDatabase } from "./read-models/index.js";
// The event codec, for tools that write or read the matchmaker stream (tests, benchmarks).
export { ledgerAggregate, ledgerEventFromWire, ledgerEventToWire } from "./adapters/nats/codec.js";
export type { LedgerEvent } from "./domain/index.js";
// The use cases over a repository the caller builds: replica tests run two of them on one stream.
export { Matchmaker } from "./application/matchmaker.js";
