#!/usr/bin/env node
// The `pot` command. Ctrl-C stops a long-running command (events tail --follow, demo) cleanly;
// a second Ctrl-C exits at once.
import { run } from "./program.js";

// grpc-js names the server for TLS (SNI) by the address dialled, and Node warns (DEP0123) when that
// is an IP literal such as the default 127.0.0.1; the certificate is still checked against the IP.
// stderr is part of pot's interface (one sentence per error), so that one warning is dropped.
process.removeAllListeners("warning");
process.on("warning", (warning: Error & { code?: string }) => {
  if (warning.code !== "DEP0123") process.stderr.write(`${warning.name}: ${warning.message}\n`);
});

/**
 * `pot replay` caps its own heap: run with Node's defaults, it re-executes itself with the replay's
 * heap flags (see REPLAY_HEAP in @pot/ops) and exits with the child's code. Ctrl-C reaches both.
 */
async function runCapped(argv: readonly string[]): Promise<number | undefined> {
  if (!argv.includes("replay")) return undefined;
  const { cappedNodeArgs, HEAP_CAPPED_ENV } = await import("@pot/ops");
  const { getHeapStatistics } = await import("node:v8");
  const args = cappedNodeArgs({
    execArgv: process.execArgv,
    script: process.argv[1]!,
    args: argv,
    heapLimitBytes: getHeapStatistics().heap_size_limit,
    env: process.env,
  });
  if (args === undefined) return undefined;
  const { spawn } = await import("node:child_process");
  const child = spawn(process.execPath, args, { stdio: "inherit", env: { ...process.env, [HEAP_CAPPED_ENV]: "1" } });
  // The terminal sends Ctrl-C to the child as well; this process only waits for it.
  process.on("SIGINT", () => undefined);
  return new Promise<number>((resolve) => {
    child.once("error", (error) => {
      process.stderr.write(`pot: could not start the replay with a capped heap: ${error.message}\n`);
      resolve(1);
    });
    child.once("exit", (code, signal) => resolve(code ?? (signal === "SIGINT" ? 130 : 1)));
  });
}

const capped = await runCapped(process.argv.slice(2));
if (capped !== undefined) process.exit(capped);

const interrupt = new AbortController();
process.on("SIGINT", () => {
  if (interrupt.signal.aborted) process.exit(130);
  interrupt.abort();
});
process.exitCode = await run(process.argv.slice(2), { signal: interrupt.signal });
