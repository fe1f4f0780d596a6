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
import { Adjudicator } from "./application/adjudicator.js";
import { startDeadlineScheduler } from "./application/deadlines.js";
import { AdjudicatorServiceService, adjudicatorHandlers } from "./adapters/grpc/handlers.js";
import { gameAggregate, policyAggregate } from "./adapters/nats/codec.js";
import type { AdjudicatorConfig } from "./config.js";
import { adjudicatorMetrics } from "./metrics.js";
import { countAdmissions } from "./read-models/games/games.queries.js";
import { adjudicatorViews, readModels, type AdjudicatorDatabase } from "./read-models/index.js";

export interface RunningService {
  readonly port: number;
  close(): Promise<void>;
}

/** How long after an interval ends it is retargeted: resolutions decided inside it are on the stream by then. */
export const RETARGET_GRACE_MS = 5_000;
const RETARGET_COUNT_WAIT_MS = 10_000;
/** How long PublishPolicy waits for the operator keys identity recorded before it to be adopted. */
const OPERATOR_KEYS_WAIT_MS = 5_000;

export interface StartOptions {
  /** The clock every decision reads; tests inject a controllable one. */
  readonly now?: () => number;
}

export async function startAdjudicator(
  config: AdjudicatorConfig,
  logger: Logger,
  options: StartOptions = {},
): Promise<RunningService & { adjudicator: Adjudicator; sweep(): Promise<number> }> {
  const ns = config.namespace;
  const { nc, clock } = await connectService({
    servers: config.natsServers,
    credentials: config.natsCredentials,
    namespace: ns,
    service: "adjudicator",
    clock: config.clock,
    logger,
  });
  const now = options.now ?? (() => clock.now());
  const store = await EventStore.open(nc, streamNames(ns, "adjudicator"), {
    replicas: config.streamReplicas,
    onAppended: adjudicatorMetrics(),
  });
  // Where this service's consumers put the events they give up on (docs/operations.md, dead letters).
  const deadLetters = await DeadLetters.open(nc, ns, "adjudicator", { replicas: config.streamReplicas, logger });
  const database = await openDatabase<AdjudicatorDatabase>({
    url: config.databaseUrl,
    ...(config.databaseQueryUrl !== undefined ? { queryUrl: config.databaseQueryUrl } : {}),
    schema: readModelSchema(ns, readModels),
    migrations: readModels.migrations,
    logger,
  });
  const adjudicator = new Adjudicator({
    networkId: config.networkId,
    games: new AggregateRepository(store, gameAggregate, { logger }),
    policies: new AggregateRepository(store, policyAggregate, { logger }),
    now,
    logger,
  });
  await adjudicator.ensureDefaultPolicy();

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
    service: "adjudicator",
    projections: views.runners,
    reactions: [
      { source: "matchmaker", durable: durableName(ns, "adjudicator", "react", "matchmaker") },
      { source: "identity", durable: durableName(ns, "adjudicator", "react", "identity") },
    ],
  });
  const matchmaker = streamNames(ns, "matchmaker");
  const reactions = startWhenAvailable(
    `reactions to ${matchmaker.stream}`,
    () =>
      startReactor({
        store,
        deadLetters,
        deadLetterAfter: config.deadLetterAfter,
        sourceStream: matchmaker.stream,
        durable: durableName(ns, "adjudicator", "react", "matchmaker"),
        handle: consistency.track(
          "matchmaker",
          refusingForgedEvents(
            durableName(ns, "adjudicator", "react", "matchmaker"),
            (event) => adjudicator.onMatchmakerEvent(event),
            logger,
          ),
        ),
        logger,
      }),
    { logger },
  );
  // The operator keys: only identity's network subject (genesis, rotations) matters here.
  const identity = streamNames(ns, "identity");
  const operatorReactions = startWhenAvailable(
    `reactions to ${identity.stream}`,
    () =>
      startReactor({
        store,
        deadLetters,
        deadLetterAfter: config.deadLetterAfter,
        sourceStream: identity.stream,
        durable: durableName(ns, "adjudicator", "react", "identity"),
        filterSubject: `${identity.prefix}.network.network`,
        handle: consistency.track(
          "identity",
          refusingForgedEvents(
            durableName(ns, "adjudicator", "react", "identity"),
            (event) => adjudicator.onIdentityEvent(event),
            logger,
          ),
        ),
        logger,
      }),
    { logger },
  );
  const operatorKeysCaughtUp = async () => {
    try {
      const last = (await store.jsm.streams.info(identity.stream)).state.last_seq;
      await consistency.waitFor({ stream: "identity", seq: last }, OPERATOR_KEYS_WAIT_MS);
    } catch (error) {
      logger.warn({ err: error }, "could not wait for identity's operator keys; checking against those adopted");
    }
  };
  // Counted once the games projection has applied every event appended so far (then the count covers
  // every resolution of the ended interval, which the grace period put on the stream).
  const admissionsBetween = async (startMs: number, endMs: number) => {
    const last = (await store.jsm.streams.info(store.names.stream)).state.last_seq;
    if (!(await consistency.projection.waitFor(last, RETARGET_COUNT_WAIT_MS))) {
      throw new Error(`the games read model did not reach sequence ${last} in ${RETARGET_COUNT_WAIT_MS} ms`);
    }
    return countAdmissions(database.db, adjudicatorViews.name, startMs, endMs);
  };
  const scheduler = startDeadlineScheduler({
    adjudicator,
    db: database.db,
    now,
    intervalMs: config.deadlineSweepMs,
    logger,
    afterSweep: () => adjudicator.retargetDue(admissionsBetween, RETARGET_GRACE_MS),
  });
  clock.onChange(() => scheduler.sweep());

  const grpc = createGrpcServer({
    logger,
    transport: config.grpcTransport,
    serverOptions: grpcServerOptions(config.grpc),
    services: [
      {
        name: "pot.v1.AdjudicatorService",
        definition: AdjudicatorServiceService,
        implementation: adjudicatorHandlers({
          adjudicator,
          db: database.queryDb,
          consistency,
          now,
          logger,
          operatorKeysCaughtUp,
        }),
      },
    ],
  });
  const port = await grpc.bind(config.grpcAddress);
  grpc.markServing();

  return {
    port,
    adjudicator,
    sweep: () => scheduler.sweep(),
    async close() {
      await grpc.shutdown(config.shutdownGraceMs);
      await scheduler.stop();
      await reactions.stop();
      await operatorReactions.stop();
      await views.stop();
      await clock.close();
      await nc.drain();
      await database.close();
    },
  };
}

export { readModels, type AdjudicatorDatabase } from "./read-models/index.js";
// The pure decider and the event codec, for audits that re-check a stream (`@pot/ops` verify).
export {
  decideGame,
  decidePolicy,
  evolveGame,
  evolvePolicy,
  initialGameState,
  initialPolicyState,
  type GameEvent,
  type GameState,
  type PolicyEvent,
  type PolicyState,
  type Retarget,
} from "./domain/index.js";
// Rate targeting's pure function, for the simulator and audits: the same period from the same counts.
export {
  firstRetargetInterval,
  intervalEnd,
  intervalIndexAt,
  intervalStart,
  rateTargetOn,
  retargetStakePeriod,
} from "./domain/index.js";
export { gameEventFromWire, gameEventToWire, policyAggregate, policyEventFromWire } from "./adapters/nats/codec.js";
