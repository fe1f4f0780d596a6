import { connect, type NatsConnection } from "@nats-io/transport-node";
import { clockSubject } from "@pot/event-store";
import {
  createTestDatabase,
  deleteNamespace,
  ensureServers,
  startServiceProcess,
  uniqueNamespace,
  type ServiceName,
  type ServiceProcess,
  type Pki,
  type Servers,
} from "@pot/devenv";
import { connectClients, type Clients } from "./clients.js";
import { testPki } from "./tls.js";
import { TEST_NETWORK } from "./players.js";

export const SERVICES = ["identity", "matchmaker", "adjudicator"] as const;

/** The three services as processes against real NATS and Postgres, in a namespace of their own. */
export interface System {
  readonly namespace: string;
  readonly natsUrl: string;
  /** The test database the services' schemas are in. */
  readonly databaseUrl: string;
  readonly nc: NatsConnection;
  /** The test run's CA and certificates; the services serve mutual TLS with its server certificate. */
  readonly pki: Pki;
  /** Over mutual TLS with the operator's client certificate (it may call every RPC). */
  readonly clients: Clients;
  readonly services: Map<ServiceName, ServiceProcess>;
  /** Moves the controlled clock of every running service (POT_CLOCK=controlled) and waits for each. */
  setClock(nowMs: number): Promise<void>;
  stopService(name: ServiceName): Promise<number | null>;
  startService(name: ServiceName): Promise<void>;
  /** Stops everything and removes the namespace's streams and the database; returns exit codes. */
  stop(): Promise<(number | null)[]>;
}

export async function startSystem(
  options: { clock?: "system" | "controlled"; env?: Record<string, string> } = {},
): Promise<System> {
  const servers: Servers = await ensureServers();
  const database = await createTestDatabase(servers.databaseUrl);
  const pki = await testPki();
  const namespace = uniqueNamespace("e");
  const env = {
    POT_CLOCK: options.clock ?? "system",
    DEADLINE_SWEEP_MS: "200",
    POT_NETWORK_ID: TEST_NETWORK,
    ...options.env,
  };
  const services = new Map<ServiceName, ServiceProcess>();
  const grpcPorts = new Map<ServiceName, number>();
  const launch = async (name: ServiceName) => {
    const port = grpcPorts.get(name);
    const process = await startServiceProcess({
      name,
      natsUrl: servers.natsUrl,
      databaseUrl: database.url,
      namespace,
      tls: pki,
      env,
      ...(port ? { port } : {}),
    });
    grpcPorts.set(name, Number(process.grpcAddress.split(":").pop()));
    services.set(name, process);
  };
  await Promise.all(SERVICES.map(launch));
  const address = (name: ServiceName) => services.get(name)!.grpcAddress;
  const clients = connectClients(
    {
      identity: address("identity"),
      matchmaker: address("matchmaker"),
      adjudicator: address("adjudicator"),
    },
    pki,
  );
  const nc = await connect({ servers: servers.natsUrl });
  let clock = Date.now();
  return {
    namespace,
    natsUrl: servers.natsUrl,
    databaseUrl: database.url,
    nc,
    pki,
    clients,
    services,
    async setClock(nowMs) {
      clock = nowMs;
      await Promise.all(
        [...services.keys()].map(async (name) => {
          const reply = await nc.request(clockSubject(namespace, name), String(nowMs), { timeout: 5_000 });
          if (reply.string() !== String(nowMs)) throw new Error(`${name} refused the clock: ${reply.string()}`);
        }),
      );
    },
    async stopService(name) {
      const process = services.get(name);
      services.delete(name);
      return (await process?.stop()) ?? null;
    },
    async startService(name) {
      await launch(name);
      if (env.POT_CLOCK === "controlled") {
        const reply = await nc.request(clockSubject(namespace, name), String(clock), { timeout: 5_000 });
        if (reply.string() !== String(clock)) throw new Error(`${name} refused the clock: ${reply.string()}`);
      }
    },
    async stop() {
      clients.close();
      const codes = await Promise.all([...services.values()].map((s) => s.stop()));
      await nc.close();
      await deleteNamespace(servers.natsUrl, namespace);
      await database.drop();
      await servers.stop();
      return codes;
    },
  };
}
