export { PotClient, type ReadOptions } from "./client.js";
export {
  connect,
  promisify,
  DEFAULT_ADDRESSES,
  DEFAULT_DEADLINE_MS,
  type CallOptions,
  type ConnectOptions,
  type Connections,
  type Promisified,
  type ServiceAddresses,
  type ServiceClient,
} from "./connection.js";
export { mutualTls, type TlsFiles } from "./tls.js";
export { isServiceError, isStatus, LocalFileError, status, statusName, StreamNotFoundError } from "./errors.js";
export { memberFromSecret, memberFromSecretHex, newMember, type Member } from "./members.js";
export {
  KEY_FILE_FORMAT,
  keyFileContent,
  parseKeyFile,
  readKeyFile,
  writeKeyFile,
  writeSecretFile,
  type KeyFileContent,
  type LoadedKey,
} from "./key-file.js";
export {
  admissionAction,
  answerRequest,
  bootstrapRequest,
  commitRequest,
  consentOf,
  consentedProposalId,
  excludeRequest,
  genericAction,
  moveToWire,
  newProposalId,
  operatorSignatures,
  proposeRequest,
  publishAgreementRequest,
  publishPolicyRequest,
  redeemRequest,
  revealRequest,
  rotateOperatorKeysRequest,
  sealMove,
  type AgreementRef,
  type BootstrapOptions,
  type Answer,
  type ConsentContext,
  type SealedMove,
} from "./requests.js";
export { MOVE_FILE_FORMAT, MoveStore, sealedOf, type StoredMove } from "./move-store.js";
export {
  currentAgreement,
  eventToJson,
  headersOf,
  hexBytes,
  readEvents,
  toJsonLine,
  type EventJson,
  type EventRecord,
  type ReadEventsOptions,
} from "./events.js";
export { CONSENT_FORMAT, consentFromJson, consentToJson, type ConsentJson } from "./consent-file.js";
export { isNotFound, SERVICE_NAMES, streamNames, type ServiceName, type StreamNames } from "./streams.js";
