// Generates docs/mechanism.md and its charts (docs/mechanism/*.svg) by running the simulator
// (packages/simulator/src/report.ts) over the services' real deciders. `--check` fails when a committed
// file differs. Builds @pot/simulator first (tsc -b, incremental), as CI checks generated files before
// its build step.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const root = resolve(import.meta.dirname, "..");
const check = process.argv.includes("--check");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const built = spawnSync(process.execPath, [tsc, "-b", "packages/simulator"], { cwd: root, stdio: "inherit" });
if (built.status !== 0) {
  console.error("gen-mechanism: building packages/simulator failed");
  process.exit(built.status ?? 1);
}
const { mechanismReport } = await import(pathToFileURL(join(root, "packages/simulator/dist/index.js")).href);
const started = Date.now();
const files = mechanismReport((line) => console.log(`  ${line}`));
console.log(`gen-mechanism: simulated in ${((Date.now() - started) / 1000).toFixed(1)} s`);
for (const [name, text] of Object.entries(files)) {
  const target = join(root, name);
  if (check) {
    let current = "";
    try {
      current = readFileSync(target, "utf8");
    } catch {
      // no committed file yet: it is stale
    }
    if (current !== text) {
      console.error(`${name} is stale: run \`npm run gen\` and commit the result`);
      process.exitCode = 1;
    } else {
      console.log(`${name} is up to date`);
    }
  } else {
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, text);
    console.log(`generated ${name}`);
  }
}
