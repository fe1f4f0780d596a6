// `npm start`: finds or starts NATS and PostgreSQL, then runs the three services until Ctrl-C.
import { messageOf } from "./probes.js";
import { join } from "node:path";
import { repoRoot } from "./repo.js";
import { ensureServers, type Servers } from "./servers.js";
import { sealNetworkStreams } from "./test-resources.js";
import { startServiceProcess, type ServiceName, type ServiceProcess } from "./service-process.js";
import { ensurePki } from "./tls.js";
import { ensureOperatorKey } from "./operator-key.js";

const PORTS: Readonly<Record<ServiceName, number>> = { identity: 50051, matchmaker: 50052, adjudicator: 50053 };

const log = (line: string): void => console.log(`[devenv] ${line}`);
const namespace = process.env.POT_NAMESPACE || "pot";
const running: ServiceProcess[] = [];
let servers: Servers | undefined;
let stopping = false;

async function main(): Promise<void> {
  process.on("SIGINT", () => void shutdown("SIGINT", 0));
  process.on("SIGTERM", () => void shutdown("SIGTERM", 0));
  // A NATS server started here has one user per service, a reader and an admin (docs/security.md).
  servers = await ensureServers({ log, natsAuthNamespace: namespace });
  const users = servers.natsUsers;
  const sealed = await sealNetworkStreams(servers.natsUrl, namespace, users?.admin);
  if (sealed.length > 0) log(`streams now deny purge and message deletion: ${sealed.join(", ")}`);
  const pki = await ensurePki(undefined, log);
  const operator = await ensureOperatorKey(undefined, log);
  for (const name of Object.keys(PORTS) as ServiceName[]) {
    if (stopping) return;
    const service = await startServiceProcess({
      name,
      natsUrl: servers.natsUrl,
      databaseUrl: servers.databaseUrl,
      namespace,
      port: PORTS[name],
      ...(users ? { env: { NATS_USER: users[name].user, NATS_PASSWORD: users[name].password } } : {}),
      tls: pki,
      inheritOutput: true,
      detached: true,
    });
    running.push(service);
    service.child.once("exit", (code, signal) => {
      if (stopping) return;
      log(`${name} died (${signal ?? `exit code ${code}`}); stopping everything`);
      void shutdown("service exit", 1);
    });
  }
  const width = Math.max(...running.map((service) => service.name.length), "PostgreSQL".length) + 2;
  console.log(
    [
      "",
      `Proof-of-Trust is running (namespace "${namespace}")`,
      ...running.map((service) => `  ${service.name.padEnd(width)}grpc ${service.grpcAddress}`),
      `  ${"NATS".padEnd(width)}${servers.natsUrl}`,
      ...(users
        ? [
            `  ${"".padEnd(width)}users ${users.reader.user} (read-only), ${users.admin.user} (admin), one per service;`,
            `  ${"".padEnd(width)}passwords in ${join(repoRoot(), ".pot", "nats-users.json")} (e.g. NATS_USER=${users.reader.user} NATS_PASSWORD=... npx pot events tail)`,
          ]
        : []),
      `  ${"PostgreSQL".padEnd(width)}${servers.databaseUrl}`,
      `  ${"TLS".padEnd(width)}mutual TLS; CA and client certificates (operator, platform, readonly) in ${pki.dir}`,
      `  ${"operator".padEnd(width)}key ${operator.path} (${operator.publicKey.slice(0, 16)}...): pot bootstrap and npm run demo sign with it`,
      servers.started.length > 0
        ? `  started here: ${servers.started.join(", ")}`
        : "  using servers that were already running",
      "Press Ctrl-C to stop.",
      "",
    ].join("\n"),
  );
}

async function shutdown(reason: string, code: number): Promise<void> {
  if (stopping) {
    log(`${reason}: already stopping`);
    return;
  }
  stopping = true;
  log(`${reason}: stopping ${running.map((service) => service.name).join(", ") || "servers"}`);
  let exitCode = code;
  const results = await Promise.all(
    [...running].reverse().map(async (service) => ({ service, code: await service.stop("SIGTERM") })),
  );
  for (const result of results) {
    if (result.code !== 0 && result.code !== null) {
      log(`${result.service.name} exited with code ${result.code}`);
      exitCode = 1;
    }
  }
  try {
    await servers?.stop();
  } catch (error) {
    log(`stopping servers: ${messageOf(error)}`);
    exitCode = 1;
  }
  process.exit(exitCode);
}

main().catch(async (error: unknown) => {
  console.error(`[devenv] ${messageOf(error)}`);
  await shutdown("startup failed", 1);
});
