#!/usr/bin/env node
// The `pot` command. Ctrl-C stops a long-running command (events tail --follow, demo) cleanly;
// a second Ctrl-C exits at once.
import { run } from "./program.js";

const interrupt = new AbortController();
process.on("SIGINT", () => {
  if (interrupt.signal.aborted) process.exit(130);
  interrupt.abort();
});
process.exitCode = await run(process.argv.slice(2), { signal: interrupt.signal });
