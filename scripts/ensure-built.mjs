// Run before `npm start` and `npm test`: installs dependencies when node_modules is missing, then
// builds every project with `tsc -b` (incremental: quick when nothing changed).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");

function run(command, args) {
  const started = Date.now();
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit" });
  if (result.error) {
    console.error(`ensure-built: cannot run ${command}: ${result.error.message}`);
    process.exit(1);
  }
  if (result.status !== 0) {
    console.error(
      `ensure-built: \`${command} ${args.join(" ")}\` failed (${result.signal ?? `exit ${result.status}`})`,
    );
    process.exit(result.status ?? 1);
  }
  return Date.now() - started;
}

if (!existsSync(join(root, "node_modules"))) {
  console.log("ensure-built: node_modules is missing, running `npm ci`");
  run(process.platform === "win32" ? "npm.cmd" : "npm", ["ci"]);
}
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const ms = run(process.execPath, [tsc, "-b"]);
if (ms > 2_000) console.log(`ensure-built: tsc -b took ${(ms / 1000).toFixed(1)} s`);
