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

const interrupt = new AbortController();
process.on("SIGINT", () => {
  if (interrupt.signal.aborted) process.exit(130);
  interrupt.abort();
});
process.exitCode = await run(process.argv.slice(2), { signal: interrupt.signal });
