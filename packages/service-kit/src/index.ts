export { toGrpcStatus, isConnectivityError, UnavailableError, type GrpcStatus } from "./grpc-status.js";
export {
  unary,
  implement,
  type CallContext,
  type UnaryHandler,
  type UnaryHandlers,
  type UnaryImplementation,
} from "./unary.js";
export {
  METHOD_ACCESS,
  ROLES,
  ROLE_URI_PREFIX,
  authorize,
  permits,
  rolesOf,
  type Access,
  type Caller,
  type Role,
  type Verdict,
} from "./grpc-access.js";
export { authorizationInterceptor, callerOf, REFUSED_BY_HEADER, serverCredentials } from "./grpc-transport.js";
export { createGrpcServer, type GrpcServer, type GrpcServerOptions, type ServiceRegistration } from "./grpc-server.js";
export { contractsProtoRoot, contractsProtoFiles } from "./proto-files.js";
export {
  ConfigError,
  readServiceConfig,
  readString,
  readMatching,
  readInteger,
  readOneOf,
  readAddress,
  readUrl,
  readGrpcTransport,
  withPort,
  GRPC_TLS_VARIABLES,
  type GrpcTransport,
  SERVICE_CONFIG_DEFAULTS,
  GRPC_LIMIT_DEFAULTS,
  readGrpcLimits,
  type Env,
  type GrpcLimits,
  type ServiceConfig,
} from "./config.js";
export { grpcServerOptions } from "./grpc-limits.js";
export {
  checkRequestLimits,
  parseRequestLimits,
  requestLimits,
  REQUEST_LIMITS_FILE,
  type FieldLimit,
  type RequestLimits,
} from "./request-bounds.js";
export { createLogger, silentLogger, LOG_LEVELS, type Logger, type LogLevel, type PinoLogger } from "./logger.js";
export {
  runService,
  DEFAULT_GRPC_ADDRESS,
  CONFIG_ERROR_EXIT_CODE,
  type RunningService,
  type RunServiceOptions,
  type StartService,
  type ReadConfig,
  type RunnableConfig,
} from "./run-service.js";
export { waitForSequence, DEFAULT_MAX_WAIT_MS, type SequenceWaiter } from "./wait-for-sequence.js";
export {
  waitForConsistency,
  parseConsistencyToken,
  formatConsistencyToken,
  MAX_CONSISTENCY_TOKEN_LENGTH,
  type ConsistencyTarget,
  type ConsistencyWaiter,
} from "./consistency.js";
export {
  pageSize,
  encodePageToken,
  decodePageToken,
  dayRange,
  MAX_PAGE_TOKEN_LENGTH,
  type CursorPart,
} from "./queries.js";
export { refusingForgedEvents, type RefusableEvent } from "./forged-events.js";
