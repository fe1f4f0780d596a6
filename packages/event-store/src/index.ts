export * from "./naming.js";
export * from "./codec.js";
export * from "./errors.js";
export * from "./logger.js";
export * from "./streams.js";
export * from "./event-store.js";
export * from "./aggregate-repository.js";
export * from "./reactor.js";
