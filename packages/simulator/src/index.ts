export * from "./random.js";
export * from "./keys.js";
export * from "./world.js";
export * from "./trust.js";
export * from "./simulation.js";
export * from "./svg.js";
export * from "./output.js";
export * from "./policies.js";
