import { startServiceProcess, type ServiceName, type ServiceProcess } from "@pot/devenv";
import { benchCredentials, benchPki, connectClients, type Clients } from "./clients.js";
import { BENCH_NETWORK } from "./players.js";

export const SERVICES = ["identity", "matchmaker", "adjudicator"] as const satisfies readonly ServiceName[];

/** The three services as separate processes on one namespace and database. */
export interface System {
  readonly services: ReadonlyMap<ServiceName, ServiceProcess>;
  readonly clients: Clients;
  pid(name: ServiceName): number;
  /** SIGTERM to each service; resolves with their exit codes. */
  stop(): Promise<(number | null)[]>;
}

export interface SystemOptions {
  readonly natsUrl: string;
  readonly databaseUrl: string;
  readonly namespace: string;
  /** Extra environment for every service, e.g. NODE_OPTIONS for --cpu-prof. */
  readonly env?: Record<string, string>;
  /** Fixed ports, to restart the services where the clients expect them. */
  readonly ports?: Partial<Record<ServiceName, number>>;
}

export async function startSystem(options: SystemOptions): Promise<System> {
  const pki = await benchPki();
  const started = await Promise.allSettled(
    SERVICES.map((name) =>
      startServiceProcess({
        name,
        natsUrl: options.natsUrl,
        databaseUrl: options.databaseUrl,
        namespace: options.namespace,
        tls: pki,
        env: { POT_NETWORK_ID: BENCH_NETWORK, ...options.env },
        ...(options.ports?.[name] ? { port: options.ports[name] } : {}),
      }),
    ),
  );
  const running = started.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const failure = started.find((result) => result.status === "rejected");
  if (failure) {
    await Promise.all(running.map((service) => service.stop()));
    throw failure.reason;
  }
  const services = new Map<ServiceName, ServiceProcess>(SERVICES.map((name, index) => [name, running[index]!]));
  const address = (name: ServiceName) => services.get(name)!.grpcAddress;
  const clients = connectClients(
    {
      identity: address("identity"),
      matchmaker: address("matchmaker"),
      adjudicator: address("adjudicator"),
    },
    benchCredentials(pki),
  );
  return {
    services,
    clients,
    pid: (name) => services.get(name)!.child.pid ?? 0,
    async stop() {
      clients.close();
      return Promise.all([...services.values()].map((service) => service.stop()));
    },
  };
}

export function portOf(service: ServiceProcess): number {
  return Number(service.grpcAddress.split(":").pop());
}
