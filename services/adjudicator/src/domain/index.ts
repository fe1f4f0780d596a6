export * from "./types.js";
export * from "./policy.js";
export * from "./game.js";
export * from "./retarget.js";
