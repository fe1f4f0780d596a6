export * from "./types.js";
export * from "./policy.js";
export * from "./game.js";
