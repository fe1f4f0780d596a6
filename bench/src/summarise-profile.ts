// Usage: node bench/dist/summarise-profile.js <file.cpuprofile> [top]
// Prints the top self-time functions of a V8 CPU profile (node --cpu-prof, or bench/dist/cpu-profiler.js),
// then self time by area (package, node internals, the project's own code).
import { resolve } from "node:path";
import { repoRoot } from "@pot/devenv";
import { summariseProfile } from "./profile.js";

const [file, top] = process.argv.slice(2);
if (!file) {
  console.error("usage: node bench/dist/summarise-profile.js <file.cpuprofile> [top]");
  process.exit(2);
}
const summary = summariseProfile(resolve(file), repoRoot(), Number(top ?? 25));
console.log(`${summary.file}: ${summary.totalMs} ms sampled, ${summary.busyMs} ms busy\n`);
console.log("  self %  self ms  function");
for (const fn of summary.top)
  console.log(`${fn.selfPercent.toFixed(1).padStart(8)} ${String(fn.selfMs).padStart(8)}  ${fn.name}`);
console.log("\n  self %  self ms  area");
for (const area of summary.byArea)
  console.log(`${area.selfPercent.toFixed(1).padStart(8)} ${String(area.selfMs).padStart(8)}  ${area.name}`);
console.log("\n  self %  self ms  kind of work");
for (const kind of summary.byKind)
  console.log(`${kind.selfPercent.toFixed(1).padStart(8)} ${String(kind.selfMs).padStart(8)}  ${kind.name}`);
