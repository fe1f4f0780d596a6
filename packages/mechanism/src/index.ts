export * from "./errors.js";
export * from "./crypto.js";
export * from "./payloads.js";
export * from "./policy.js";
export * from "./ids.js";
export * from "./echo.js";
export * from "./operators.js";
export * from "./evidence.js";
