import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { assertPortFree, freePort, waitForPort } from "./ports.js";
import { messageOf } from "./probes.js";
import { exited, onProcessExit, Tail, terminate } from "./processes.js";
import { repoRoot } from "./repo.js";
import { serviceTlsEnv, type Pki } from "./tls.js";

export type ServiceName = "identity" | "matchmaker" | "adjudicator";

export interface ServiceProcess {
  readonly name: string;
  /** host:port the service's gRPC server listens on, e.g. "127.0.0.1:50051". */
  readonly grpcAddress: string;
  readonly child: ChildProcess;
  /** The last 64 KiB of the child's stdout and stderr, interleaved. */
  logs(): string;
  /** Sends `signal` (default SIGTERM), SIGKILL after 10 s; resolves with the exit code (null if killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartServiceOptions {
  name: ServiceName;
  natsUrl: string;
  databaseUrl: string;
  namespace: string;
  /** gRPC port on 127.0.0.1; a free one when omitted. */
  port?: number;
  /**
   * The service's gRPC transport: mutual TLS with the PKI's server certificate (GRPC_TLS_*), or
   * "insecure" (GRPC_INSECURE=true: plaintext, no caller identity; the service warns loudly).
   */
  tls: Pki | "insecure";
  /** Extra environment, applied last. */
  env?: Record<string, string>;
  /** Also copy the child's output to ours (it is captured for logs() either way). */
  inheritOutput?: boolean;
  /** Internal: how long the gRPC port may take to open (default 30 s). */
  startTimeoutMs?: number;
  /** Internal: run the child in its own process group, so a terminal's Ctrl-C reaches only us. */
  detached?: boolean;
  /** Internal (tests): the root under which `services/<name>/dist/main.js` is found; default repoRoot(). */
  root?: string;
}

const HOST = "127.0.0.1";

/**
 * Spawns `node --import <root>/packages/telemetry/dist/register.js <root>/services/<name>/dist/main.js`
 * (as the service's start script does) with NATS_URL, DATABASE_URL, GRPC_ADDRESS and POT_NAMESPACE
 * set, and resolves once its gRPC port accepts connections. Rejects with the child's output when it
 * exits first or does not open the port in time (the child is then killed).
 *
 * Telemetry: OTEL_SERVICE_NAME defaults to the service's name; when neither our environment nor
 * `env` sets any OTEL_* variable, the child gets OTEL_SDK_DISABLED=true, so that tests and
 * `npm start` do not export to an OTLP endpoint nobody runs. Set OTEL_* variables to turn it on.
 */
export async function startServiceProcess(options: StartServiceOptions): Promise<ServiceProcess> {
  const { name } = options;
  const port = options.port ?? (await freePort());
  await assertPortFree(HOST, port);
  const grpcAddress = `${HOST}:${port}`;
  const root = options.root ?? repoRoot();
  const script = join(root, "services", name, "dist", "main.js");
  const preload = join(root, "packages", "telemetry", "dist", "register.js");
  const telemetryAsked = [...Object.keys(process.env), ...Object.keys(options.env ?? {})].some((key) =>
    key.startsWith("OTEL_"),
  );
  const args = existsSync(preload) ? ["--import", pathToFileURL(preload).href, script] : [script];
  const child = spawn(process.execPath, args, {
    env: {
      OTEL_SERVICE_NAME: name,
      ...(telemetryAsked ? {} : { OTEL_SDK_DISABLED: "true" }),
      ...process.env,
      NATS_URL: options.natsUrl,
      DATABASE_URL: options.databaseUrl,
      GRPC_ADDRESS: grpcAddress,
      POT_NAMESPACE: options.namespace,
      ...(options.tls === "insecure"
        ? { GRPC_INSECURE: "true", GRPC_TLS_CERT: "", GRPC_TLS_KEY: "", GRPC_TLS_CA: "" }
        : { GRPC_INSECURE: "", ...serviceTlsEnv(options.tls) }),
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: options.detached ?? false,
  });
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const tail = new Tail();
  child.stdout?.on("data", (chunk: Buffer) => {
    tail.push(chunk);
    if (options.inheritOutput) process.stdout.write(chunk);
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    tail.push(chunk);
    if (options.inheritOutput) process.stderr.write(chunk);
  });
  const removeHook = onProcessExit(() => child.kill("SIGTERM"));
  const done = exited(child).then((code) => {
    removeHook();
    return code;
  });
  const spawnFailed = new Promise<never>((_, reject) => child.once("error", reject));
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const waiting = new AbortController();
  try {
    await Promise.race([
      waitForPort(HOST, port, timeoutMs, waiting.signal),
      spawnFailed,
      done.then(async (code) => {
        // The pipes close just after the exit: wait for them so the output is complete.
        await Promise.race([closed, sleep(500)]);
        const how = code === null ? `was killed by ${child.signalCode}` : `exited with code ${code}`;
        throw new StartFailure(`service ${name} ${how} before opening ${grpcAddress} (${script}):\n${tail}`);
      }),
    ]);
  } catch (error) {
    await terminate(child, "SIGKILL", 1_000);
    if (error instanceof StartFailure) throw new Error(error.message);
    throw new Error(`service ${name} did not start (${script}): ${messageOf(error)}\n${tail}`, { cause: error });
  } finally {
    waiting.abort();
  }
  let stopping: Promise<number | null> | undefined;
  return {
    name,
    grpcAddress,
    child,
    logs: () => tail.toString(),
    stop: (signal = "SIGTERM") => (stopping ??= terminate(child, signal, 10_000)),
  };
}

class StartFailure extends Error {}
