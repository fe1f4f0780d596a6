export {
  aggregateIdOf,
  assertNamespace,
  durableName,
  type ServiceName,
  streamNames,
  type StreamNames,
} from "./naming.js";
export {
  decodeEnvelope,
  encodeEnvelope,
  envelopeHeaders,
  EVENT_TYPE_HEADER,
  type EventBody,
  type EventCase,
  type EventOf,
  eventTypeName,
} from "./codec.js";
export { isJetStreamNotFound, isWrongLastSequence } from "./errors.js";
export { type Logger, silentLogger } from "./logger.js";
export {
  type DurableConsumerOptions,
  ensureDurableConsumer,
  ensureEventStream,
  type EventStreamOptions,
  isPermissionViolation,
  SECOND_NS,
} from "./streams.js";
export {
  type AppendExpectation,
  type AppendOptions,
  type AppendResult,
  envelopeOf,
  EventStore,
  type EventStoreOptions,
  type NewEnvelope,
  type RefusedMessage,
  type StoredEvent,
  type SubjectLog,
} from "./event-store.js";
export {
  AggregateRepository,
  type AggregateType,
  type Caused,
  type CommandContext,
  type ExecuteResult,
  type RepositoryOptions,
} from "./aggregate-repository.js";
export { PULL_EXPIRES_MS, type Reactor, type ReactorOptions, startReactor } from "./reactor.js";
export {
  DEAD_LETTER_HEADERS,
  DEAD_LETTER_REASON_KINDS,
  DEAD_LETTER_RETRIED_SEQ_HEADER,
  DEAD_LETTER_RETRY_HEADER,
  type DeadLetter,
  DeadLetterError,
  deadLetterNames,
  type DeadLetterNames,
  type DeadLetterOptions,
  type DeadLetterReasonKind,
  DeadLetterRetryError,
  DeadLetters,
  DEFAULT_DEAD_LETTER_AFTER,
  ensureDeadLetterStream,
  immediateKindOf,
  type PoisonMessage,
  poisonOf,
  readDeadLetter,
  readDeadLetters,
  REASON_MAX,
  reasonOf,
  reasonText,
  retryDeadLetter,
  type RetryResult,
  retrySubject,
} from "./dead-letters.js";
export { type Deferred, startWhenAvailable, type Stoppable } from "./deferred.js";
export { type Clock, clockSubject, connectService, controlledClock, systemClock } from "./clock.js";
export { observeConsumer, type ConsumerTelemetry } from "./telemetry.js";
export {
  natsConnectOptions,
  type NatsConnectOptions,
  type NatsCredentials,
  natsCredentialsFromEnv,
  natsInboxPrefix,
} from "./nats-connection.js";
export { BATCH_HEADER, REQUEST_DIGEST_HEADER, requestDigest } from "./request-digest.js";
