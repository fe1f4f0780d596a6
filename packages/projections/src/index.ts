export { StaleCheckpointError } from "./errors.js";
export { openDatabase, type Database, type OpenDatabaseOptions } from "./database.js";
export type { Migration } from "kysely/migration";
export { readCheckpoint, type CheckpointTables, type ProjectionCheckpointTable } from "./checkpoint.table.js";
export { applyBatch, type Projection } from "./apply-batch.js";
export {
  startProjection,
  type BatchInfo,
  type ProjectionRunner,
  type StartProjectionOptions,
} from "./projection-runner.js";
export {
  startReadModels,
  readModelSchema,
  projectionSource,
  type ReadModels,
  type ReadModelProjection,
  type RunningProjection,
  type RunningReadModels,
} from "./read-models.js";
export { ConsistencyGate, SharedFetch, type ConsistencyGateOptions } from "./consistency.js";
export { arrayLiteral, safeText, unnestRows, utcDay, writeTogether, type ColumnTypes } from "./unnest.js";
export { sequenced, type Sequenced } from "./sequenced.js";
export { dropServiceRoles, provisionServiceRoles, urlAsRole, type ServiceRoles } from "./roles.js";
