// Usage: node scripts/run-tests.mjs <unit|int|e2e|faults>... [--large]
// Runs the compiled test files `**/dist/**/*.<kind>.test.js` of proto/, packages/*, services/*, bench/ and test/
// with `node --test`: all unit files in one run, then all int files, then each e2e and faults file on
// its own. int and e2e runs get NATS_URL and DATABASE_URL from devenv's ensureServers (servers it
// starts are stopped at the end); the fault suite starts its own nats-server and PostgreSQL (it kills
// them), so it needs neither. --large runs the larger fault suite (POT_FAULTS_LARGE=1). Prints
// `N passed, M failed` last; exits non-zero when anything failed or a requested kind has no test files.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const KINDS = ["unit", "int", "e2e", "faults"];
/** Kinds whose files run one per `node --test` process. */
const ONE_BY_ONE = new Set(["e2e", "faults"]);
/** Kinds that start the servers they need themselves. */
const OWN_SERVERS = new Set(["unit", "faults"]);
// Per-test timeout (node --test-timeout), so a hung test fails instead of hanging CI.
const TEST_TIMEOUT_MS = Number(process.env.POT_TEST_TIMEOUT_MS || 600_000);
// A test file that leaves a handle open (a pool, a socket) must not hang the run once its tests are
// done: --test-force-exit (Node >= 20.14) ends it; the leak still deserves a fix.
const [major, minor] = process.versions.node.split(".").map(Number);
const FORCE_EXIT = major > 20 || (major === 20 && minor >= 14) ? ["--test-force-exit"] : [];

const args = process.argv.slice(2);
const large = args.includes("--large");
const requested = args.filter((arg) => arg !== "--large");
const unknown = requested.filter((kind) => !KINDS.includes(kind));
if (requested.length === 0 || unknown.length > 0) {
  console.error(
    `usage: node scripts/run-tests.mjs <${KINDS.join("|")}>... [--large]${unknown.length ? ` (unknown: ${unknown.join(", ")})` : ""}`,
  );
  process.exit(2);
}
const kinds = KINDS.filter((kind) => requested.includes(kind));

const totals = { passed: 0, failed: 0 };
const problems = [];
let servers;
let current;
let interrupted = false;

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    interrupted = true;
    console.error(`\nrun-tests: ${signal}, stopping`);
    current?.kill(signal);
  });
}

try {
  for (const kind of kinds) {
    if (interrupted) break;
    const files = findTestFiles(kind);
    if (files.length === 0) {
      problems.push(`no ${kind} test files found (**/dist/**/*.${kind}.test.js): counted as a failure`);
      totals.failed += 1;
      continue;
    }
    const env = { ...process.env, ...(large ? { POT_FAULTS_LARGE: "1" } : {}) };
    if (!OWN_SERVERS.has(kind)) {
      servers ??= await startServers();
      if (servers === undefined) {
        totals.failed += 1;
        continue;
      }
      env.NATS_URL = servers.natsUrl;
      env.DATABASE_URL = servers.databaseUrl;
    }
    const batches = ONE_BY_ONE.has(kind) ? files.map((file) => [file]) : [files];
    for (const batch of batches) {
      if (interrupted) break;
      console.log(`\n=== ${kind}: ${batch.length === 1 ? relative(root, batch[0]) : `${batch.length} files`}`);
      const counts = await runNodeTest(batch, env);
      totals.passed += counts.passed;
      totals.failed += counts.failed;
      if (counts.problem) problems.push(`${kind}: ${counts.problem}`);
    }
  }
} finally {
  if (servers?.started.length) {
    console.log(`run-tests: stopping ${servers.started.join(", ")}`);
    await servers.stop().catch((error) => problems.push(`stopping servers: ${error.message}`));
  }
}
if (interrupted) problems.push("interrupted");

console.log("");
for (const problem of problems) console.log(`run-tests: ${problem}`);
console.log(`${totals.passed} passed, ${totals.failed} failed`);
process.exitCode = totals.failed > 0 || problems.length > 0 ? 1 : 0;

function findTestFiles(kind) {
  const suffix = `.${kind}.test.js`;
  const found = [];
  const walk = (dir, inDist) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "node_modules" && !entry.name.startsWith(".")) walk(path, inDist || entry.name === "dist");
      } else if (inDist && entry.isFile() && entry.name.endsWith(suffix)) {
        found.push(path);
      }
    }
  };
  const tops = [join(root, "proto"), join(root, "test"), join(root, "bench")];
  for (const group of ["packages", "services"]) {
    try {
      for (const entry of readdirSync(join(root, group), { withFileTypes: true })) {
        if (entry.isDirectory()) tops.push(join(root, group, entry.name));
      }
    } catch {
      // no such group
    }
  }
  for (const top of tops) walk(top, false);
  return found.sort();
}

async function startServers() {
  const { ensureServers } = await import("../packages/devenv/dist/index.js");
  try {
    const found = await ensureServers({ log: (line) => console.log(`run-tests: ${line}`) });
    console.log(`run-tests: NATS_URL=${found.natsUrl} DATABASE_URL=${found.databaseUrl}`);
    return found;
  } catch (error) {
    problems.push(`servers: ${error.message}`);
    return undefined;
  }
}

/**
 * One `node --test` run: the spec reporter's output is copied to ours and its summary lines
 * (`ℹ pass N`, `ℹ fail N`, `ℹ cancelled N`) give the counts. (A TAP report to a file would lose its
 * summary under --test-force-exit, which ends the process before the file is flushed.)
 */
async function runNodeTest(files, env) {
  const args = [
    "--test",
    `--test-timeout=${TEST_TIMEOUT_MS}`,
    ...FORCE_EXIT,
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    ...files,
  ];
  const childEnv = process.stdout.isTTY && env.NO_COLOR === undefined ? { FORCE_COLOR: "1", ...env } : env;
  current = spawn(process.execPath, args, { cwd: root, env: childEnv, stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  current.stdout.on("data", (chunk) => {
    process.stdout.write(chunk);
    output += chunk.toString();
    if (output.length > 1_000_000) output = output.slice(-100_000);
  });
  const code = await new Promise((resolve) => {
    current.once("error", (error) => {
      console.error(`run-tests: cannot run node --test: ${error.message}`);
      resolve(1);
    });
    current.once("close", (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
  });
  current = undefined;
  // eslint-disable-next-line no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  const total = (name) => {
    const matches = [...plain.matchAll(new RegExp(`^ℹ ${name} (\\d+)$`, "gm"))];
    return matches.length > 0 ? Number(matches.at(-1)[1]) : undefined;
  };
  const passed = total("pass") ?? 0;
  let failed = (total("fail") ?? 0) + (total("cancelled") ?? 0);
  let problem;
  if (total("pass") === undefined) problem = `node --test printed no summary (exit ${code})`;
  if (code !== 0 && failed === 0) {
    failed = 1;
    problem ??= `node --test exited with code ${code} without a failing test`;
  }
  return { passed, failed, problem };
}
