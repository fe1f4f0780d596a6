/**
 * Every span and metric attribute name the services and the shared packages write. Metric
 * attributes come only from the low-cardinality half (a handful of values each); ids, subjects and
 * sequences go on spans only.
 */
export const ATTR = {
  // OpenTelemetry semantic conventions (rpc.*, messaging.*)
  rpcSystem: "rpc.system",
  rpcService: "rpc.service",
  rpcMethod: "rpc.method",
  rpcGrpcStatus: "rpc.grpc.status_code",
  /** The status code's name ("OK", "NOT_FOUND"): readable on dashboards. */
  rpcStatus: "pot.rpc.status",
  messagingSystem: "messaging.system",
  messagingOperationType: "messaging.operation.type",
  messagingOperationName: "messaging.operation.name",
  messagingDestination: "messaging.destination.name",
  messagingConsumerGroup: "messaging.consumer.group.name",
  messagingMessageId: "messaging.message.id",
  messagingBatchCount: "messaging.batch.message_count",
  // Proof-of-Trust, low cardinality (fit for metrics)
  stream: "pot.stream",
  aggregate: "pot.aggregate",
  eventType: "pot.event.type",
  consumer: "pot.consumer",
  projection: "pot.projection",
  result: "pot.result",
  outcome: "pot.outcome",
  actionKind: "pot.action.kind",
  admissionKind: "pot.admission.kind",
  move: "pot.move",
  suspensionReason: "pot.suspension.reason",
  /** The service whose consumer gave up on a message (its dead-letter stream). */
  service: "pot.service",
  /** Why a message was dead-lettered or refused: undecodable, invalid, failed, forged. */
  reasonKind: "pot.reason.kind",
  // Proof-of-Trust, high cardinality (spans only)
  subject: "pot.subject",
  sequence: "pot.stream.sequence",
  deliveryCount: "pot.delivery.count",
  causationId: "pot.causation.id",
  correlationId: "pot.correlation.id",
  replay: "pot.replay",
} as const;

export type InstrumentType = "counter" | "histogram" | "gauge";

export interface MetricDefinition {
  readonly name: string;
  readonly type: InstrumentType;
  readonly unit: string;
  readonly description: string;
  readonly attributes: readonly string[];
}

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
const MESSAGES = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000] as const;

/** Histogram bucket boundaries, by unit. */
export const BUCKETS = { seconds: SECONDS, messages: MESSAGES } as const;

/**
 * Every metric the services export, the one list the dashboard, the docs and the tests are
 * checked against. Names are OpenTelemetry names; Prometheus sees them through `prometheusName`.
 */
export const METRICS = {
  // The mechanism (counted where the event is appended, once per event).
  gamesOpened: {
    name: "pot.games.opened",
    type: "counter",
    unit: "{game}",
    description: "Games opened by the matchmaker (both stakes locked).",
    attributes: [ATTR.actionKind],
  },
  gamesResolved: {
    name: "pot.games.resolved",
    type: "counter",
    unit: "{game}",
    description: "Games resolved by the adjudicator, by outcome.",
    attributes: [ATTR.outcome, ATTR.actionKind],
  },
  membersAdmitted: {
    name: "pot.members.admitted",
    type: "counter",
    unit: "{member}",
    description: "Members admitted, by kind: genesis, sponsored (a won game) or controlled (a redeemed credit).",
    attributes: [ATTR.admissionKind],
  },
  sponsorsSuspended: {
    name: "pot.sponsors.suspended",
    type: "counter",
    unit: "{suspension}",
    description: "Staking slots suspended, by reason: a game's penalty or an excluded member's sponsor accountability.",
    attributes: [ATTR.suspensionReason],
  },
  membersExcluded: {
    name: "pot.members.excluded",
    type: "counter",
    unit: "{member}",
    description: "Members excluded for a violation of the agreement.",
    attributes: [],
  },
  creditsIssued: {
    name: "pot.credits.issued",
    type: "counter",
    unit: "{credit}",
    description: "Admission credits granted to defectors.",
    attributes: [],
  },
  creditsRedeemed: {
    name: "pot.credits.redeemed",
    type: "counter",
    unit: "{credit}",
    description: "Admission credits redeemed to admit a controlled identity.",
    attributes: [],
  },
  movesRevealed: {
    name: "pot.moves.revealed",
    type: "counter",
    unit: "{move}",
    description: "Moves revealed, by move; the cooperation rate is cooperate / all.",
    attributes: [ATTR.move],
  },
  // The machinery.
  rpcDuration: {
    name: "pot.rpc.server.duration",
    type: "histogram",
    unit: "s",
    description: "gRPC calls served, from receipt to status, by method and status code.",
    attributes: [ATTR.rpcService, ATTR.rpcMethod, ATTR.rpcStatus],
  },
  publishDuration: {
    name: "pot.eventstore.publish.duration",
    type: "histogram",
    unit: "s",
    description: "JetStream publishes (appends) until the stream's ack, by aggregate and result.",
    attributes: [ATTR.stream, ATTR.aggregate, ATTR.result],
  },
  publishConflicts: {
    name: "pot.eventstore.conflicts",
    type: "counter",
    unit: "{conflict}",
    description: "Optimistic-concurrency conflicts: another writer appended to the aggregate first.",
    attributes: [ATTR.aggregate],
  },
  consumerPending: {
    name: "pot.consumer.pending",
    type: "gauge",
    unit: "{message}",
    description: "Messages a durable consumer has not delivered yet (the server's num_pending).",
    attributes: [ATTR.consumer],
  },
  consumerAckPending: {
    name: "pot.consumer.ack_pending",
    type: "gauge",
    unit: "{message}",
    description: "Messages delivered to a durable consumer and not acknowledged yet.",
    attributes: [ATTR.consumer],
  },
  consumerRedeliveries: {
    name: "pot.consumer.redeliveries",
    type: "counter",
    unit: "{message}",
    description: "Messages received again after a failed or unacknowledged delivery.",
    attributes: [ATTR.consumer],
  },
  consumerDuration: {
    name: "pot.consumer.process.duration",
    type: "histogram",
    unit: "s",
    description: "Reactions to one event, by consumer and result (ok, error, dead_lettered).",
    attributes: [ATTR.consumer, ATTR.result],
  },
  deadLetters: {
    name: "pot.dead_letters",
    type: "counter",
    unit: "{message}",
    description:
      "Messages a consumer gave up on and put in its service's dead-letter stream, by service, source stream and reason kind.",
    attributes: [ATTR.service, ATTR.stream, ATTR.reasonKind],
  },
  catchUpRefused: {
    name: "pot.eventstore.catchup.refused",
    type: "counter",
    unit: "{message}",
    description:
      "Messages an aggregate's catch-up skipped because they could not be decoded or applied, by aggregate and reason kind.",
    attributes: [ATTR.stream, ATTR.aggregate, ATTR.reasonKind],
  },
  eventsRefused: {
    name: "pot.events.refused",
    type: "counter",
    unit: "{event}",
    description:
      "Events of another service's stream a reaction refused as forged (the signatures they carry do not justify them), by consumer and event type. Any is an incident: someone appended with a service's credentials.",
    attributes: [ATTR.consumer, ATTR.eventType],
  },
  projectionBatchSize: {
    name: "pot.projection.batch.size",
    type: "histogram",
    unit: "{message}",
    description: "Messages applied to a projection in one transaction.",
    attributes: [ATTR.projection, ATTR.consumer],
  },
  projectionBatchDuration: {
    name: "pot.projection.batch.duration",
    type: "histogram",
    unit: "s",
    description: "From taking a batch to acknowledging it, the transaction included.",
    attributes: [ATTR.projection, ATTR.consumer],
  },
  projectionLagEvents: {
    name: "pot.projection.lag.events",
    type: "gauge",
    unit: "{event}",
    description: "Events matching the projection not applied yet, after its last batch.",
    attributes: [ATTR.projection, ATTR.consumer],
  },
  projectionLagSeconds: {
    name: "pot.projection.lag.seconds",
    type: "gauge",
    unit: "s",
    description: "Age of the last event applied when its batch committed.",
    attributes: [ATTR.projection, ATTR.consumer],
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricKey = keyof typeof METRICS;

/**
 * The name Prometheus sees (the OpenTelemetry Prometheus exporter's rule): characters outside
 * [a-zA-Z0-9_:] become "_", and monotonic counters end in "_total". Histograms add _bucket, _sum
 * and _count to it.
 */
export function prometheusName(metric: Pick<MetricDefinition, "name" | "type">): string {
  const base = metric.name.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/_{2,}/g, "_");
  return metric.type === "counter" && !base.endsWith("_total") ? `${base}_total` : base;
}

/** The Prometheus series names of a metric: histograms expose three. */
export function prometheusSeries(metric: Pick<MetricDefinition, "name" | "type">): string[] {
  const name = prometheusName(metric);
  return metric.type === "histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
}
