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
import { IdentityServiceService, identityHandlers } from "./adapters/grpc/handlers.js";
import { memberAggregate, networkAggregate } from "./adapters/nats/codec.js";
import { Identity } from "./application/identity.js";
import type { IdentityConfig } from "./config.js";
import { identityMetrics } from "./metrics.js";
import { readModels, type IdentityDatabase } from "./read-models/index.js";

export interface StartOptions {
  readonly now?: () => number;
}

export async function startIdentity(config: IdentityConfig, logger: Logger, options: StartOptions = {}) {
  const ns = config.namespace;
  const { nc, clock } = await connectService({
    servers: config.natsServers,
    credentials: config.natsCredentials,
    namespace: ns,
    service: "identity",
    clock: config.clock,
    logger,
  });
  const now = options.now ?? (() => clock.now());
  const store = await EventStore.open(nc, streamNames(ns, "identity"), {
    replicas: config.streamReplicas,
    onAppended: identityMetrics(),
  });
  // Where this service's consumers put the events they give up on (docs/operations.md, dead letters).
  const deadLetters = await DeadLetters.open(nc, ns, "identity", { replicas: config.streamReplicas, logger });
  const database = await openDatabase<IdentityDatabase>({
    url: config.databaseUrl,
    ...(config.databaseQueryUrl !== undefined ? { queryUrl: config.databaseQueryUrl } : {}),
    schema: readModelSchema(ns, readModels),
    migrations: readModels.migrations,
    logger,
  });
  const identity = new Identity({
    networkId: config.networkId,
    network: new AggregateRepository(store, networkAggregate, { logger }),
    members: new AggregateRepository(store, memberAggregate, { logger }),
    now,
  });
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
    service: "identity",
    projections: views.runners,
    reactions: [
      { source: "identity", durable: durableName(ns, "identity", "react", "identity") },
      { source: "adjudicator", durable: durableName(ns, "identity", "react", "adjudicator") },
    ],
  });
  const genesis = await startReactor({
    store,
    deadLetters,
    deadLetterAfter: config.deadLetterAfter,
    sourceStream: store.names.stream,
    durable: durableName(ns, "identity", "react", "identity"),
    handle: consistency.track("identity", (event) => identity.onOwnEvent(event)),
    logger,
  });
  const adjudicator = streamNames(ns, "adjudicator");
  const resolutions = startWhenAvailable(
    `reactions to ${adjudicator.stream}`,
    () =>
      startReactor({
        store,
        deadLetters,
        deadLetterAfter: config.deadLetterAfter,
        sourceStream: adjudicator.stream,
        durable: durableName(ns, "identity", "react", "adjudicator"),
        filterSubject: `${adjudicator.prefix}.game.>`,
        handle: consistency.track(
          "adjudicator",
          refusingForgedEvents(
            durableName(ns, "identity", "react", "adjudicator"),
            (event) => identity.onAdjudicatorEvent(event),
            logger,
          ),
        ),
        logger,
      }),
    { logger },
  );

  const grpc = createGrpcServer({
    logger,
    transport: config.grpcTransport,
    serverOptions: grpcServerOptions(config.grpc),
    services: [
      {
        name: "pot.v1.IdentityService",
        definition: IdentityServiceService,
        implementation: identityHandlers({ identity, db: database.queryDb, consistency, now, logger }),
      },
    ],
  });
  const port = await grpc.bind(config.grpcAddress);
  grpc.markServing();
  return {
    port,
    identity,
    async close() {
      await grpc.shutdown(config.shutdownGraceMs);
      await resolutions.stop();
      await genesis.stop();
      await views.stop();
      await clock.close();
      await nc.drain();
      await database.close();
    },
  };
}

export { readModels, type IdentityDatabase } from "./read-models/index.js";
// The event codec, for tools that write or read the identity stream (tests, benchmarks).
export { memberEventFromWire, memberEventToWire } from "./adapters/nats/codec.js";
export type { MemberEvent } from "./domain/index.js";
