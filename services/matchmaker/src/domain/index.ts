export * from "./ledger.js";
export * from "./growth.js";
