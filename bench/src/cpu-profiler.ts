// Preloaded with NODE_OPTIONS="--import=<this file>": samples the process's CPU with V8's profiler
// and writes <BENCH_CPU_PROFILE_DIR>/<name>-<pid>.cpuprofile at exit (the format of `node
// --cpu-prof`, which Node 20 refuses in NODE_OPTIONS; --import it accepts). With
// BENCH_CPU_PROFILE_ON=signal, sampling starts at the first SIGUSR2, so a profile can leave out
// start-up and cover only the load the bench applies.
import { mkdirSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { basename, dirname, join } from "node:path";

const dir = process.env.BENCH_CPU_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.setSamplingInterval", { interval: 1_000 });
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    session.post("Profiler.start");
  };
  if (process.env.BENCH_CPU_PROFILE_ON === "signal") process.once("SIGUSR2", start);
  else start();
  const script = process.argv[1] ?? "node";
  // e.g. services/identity/dist/main.js -> "identity"
  const name = basename(script) === "main.js" ? basename(dirname(dirname(script))) : basename(script, ".js");
  process.on("exit", () => {
    if (!started) return;
    // A session on the same thread answers synchronously, so this completes before the process ends.
    session.post("Profiler.stop", (error, result) => {
      if (error) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${name}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
