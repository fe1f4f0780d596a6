export * from "./network.js";
export * from "./member.js";
