export type { ServiceName, ReplayProgress, TableDigest, ReplayResult, VerifyMismatch, VerifyResult } from "./types.js";
export { replay } from "./replay.js";
export { digestTables } from "./digest.js";
export { verify } from "./verify.js";
export { natsConnectOptions, natsInboxPrefix, type NatsCredentials } from "@pot/event-store";
export { dropServiceRoles, provisionServiceRoles, urlAsRole, type ServiceRoles } from "@pot/projections";
export { cappedNodeArgs, HEAP_CAPPED_ENV, REPLAY_HEAP } from "./heap-cap.js";
