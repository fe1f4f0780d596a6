export * from "./gen/pot/v1/common.js";
export * from "./gen/pot/v1/events.js";
export * from "./gen/pot/v1/matchmaker.js";
export * from "./gen/pot/v1/adjudicator.js";
export * from "./gen/pot/v1/identity.js";
export { Timestamp } from "./gen/google/protobuf/timestamp.js";
// Every generated file declares these; the explicit re-export settles which one the package exports.
export { type DeepPartial, type MessageFns, protobufPackage, protobufFileName } from "./gen/pot/v1/common.js";
