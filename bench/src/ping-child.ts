// The gRPC ping's client in a process of its own. Usage:
// node ping-child.js '{"address","target","durationMs","concurrency","pkiDir"}'; prints one line of JSON (PingResult).
import { pkiFiles } from "@pot/devenv";
import { grpcPingRate } from "./limits.js";

interface PingJob {
  readonly address: string;
  readonly target: string;
  readonly durationMs: number;
  readonly concurrency: number;
  readonly pkiDir: string;
}

const job = JSON.parse(process.argv[2] ?? "{}") as PingJob;
grpcPingRate(job.address, job.target, job.durationMs, job.concurrency, pkiFiles(job.pkiDir)).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(`gRPC ping failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
