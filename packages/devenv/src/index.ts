export { ensureServers, DEFAULT_DATABASE_URL, DEFAULT_NATS_URL } from "./servers.js";
export type { EnsureServersOptions, Servers } from "./servers.js";
export { createTestDatabase, deleteNamespace, sealNetworkStreams, uniqueNamespace } from "./test-resources.js";
export type { TestDatabase } from "./test-resources.js";
export { freePort, waitForPort } from "./ports.js";
export { startServiceProcess } from "./service-process.js";
export type { ServiceName, ServiceProcess, StartServiceOptions } from "./service-process.js";
export { repoRoot } from "./repo.js";
export {
  NATS_ROLES,
  NATS_SERVICES,
  SERVICE_CONSUMERS,
  natsInboxPrefix,
  natsPasswordVariable,
  natsPermissions,
  natsUserName,
  renderNatsAuthorization,
  type NatsRole,
  type PasswordSource,
  type SubjectPermissions,
} from "./nats-auth.js";
export { startSecureNats, type SecureNats } from "./secure-nats.js";
export type { NatsUser } from "./local-servers.js";
export {
  startLocalNats,
  startPostgresProcess,
  type LocalNatsOptions,
  type PostgresProcess,
  type ServerHandle,
} from "./local-servers.js";
export {
  CLIENT_ROLES,
  createPki,
  defaultPkiDir,
  ensurePki,
  issueCertificate,
  pkiFiles,
  serviceTlsEnv,
  type ClientRole,
  type IssueOptions,
  type KeyPairFiles,
  type Pki,
} from "./tls.js";
export { defaultOperatorKeyPath, ensureOperatorKey } from "./operator-key.js";
