import { connect, type NatsConnection } from "@nats-io/transport-node";
import { clockSubject } from "@pot/event-store";
import {
  createTestDatabase,
  deleteNamespace,
  ensureServers,
  startSecureNats,
  startServiceProcess,
  uniqueNamespace,
  type NatsRole,
  type NatsUser,
  type SecureNats,
  type ServiceName,
  type ServiceProcess,
  type Pki,
  type Servers,
} from "@pot/devenv";
import { dropServiceRoles, provisionServiceRoles, urlAsRole } from "@pot/ops";
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
  /** Connected as the admin when the NATS server has users (secureNats). */
  readonly nc: NatsConnection;
  /** The NATS users of the network when it runs on a server of its own with users and permissions. */
  readonly natsUsers?: Readonly<Record<NatsRole, NatsUser>>;
  /** That server (its log records permission violations). */
  readonly secureNats?: SecureNats;
  /** With pgRoles: each service's Postgres roles (cluster-global, dropped by stop()). */
  readonly pgRoles?: Readonly<Record<ServiceName, { owner: string; reader: string; schema: string }>>;
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

/**
 * `secureNats`: run on a nats-server of the test's own (a free loopback port) with the network's
 * users and permissions, each service as its own NATS user. POT_TEST_SECURE_NATS=1 turns it on for
 * every suite (how the minimal permissions were found).
 */
export async function startSystem(
  options: {
    clock?: "system" | "controlled";
    env?: Record<string, string>;
    secureNats?: boolean;
    pgRoles?: boolean;
  } = {},
): Promise<System> {
  const servers: Servers = await ensureServers();
  const database = await createTestDatabase(servers.databaseUrl);
  const pki = await testPki();
  const namespace = uniqueNamespace("e");
  const secure =
    (options.secureNats ?? process.env.POT_TEST_SECURE_NATS === "1") ? await startSecureNats(namespace) : undefined;
  const natsUrl = secure?.url ?? servers.natsUrl;
  // pgRoles (or POT_TEST_PG_ROLES=1): each service as its own Postgres roles, named after the test
  // database (pot_t_<hex>_<service>, ..._reader) since roles are cluster-global; dropped by stop().
  const pgRoles =
    (options.pgRoles ?? process.env.POT_TEST_PG_ROLES === "1")
      ? (Object.fromEntries(
          SERVICES.map((service) => [
            service,
            {
              owner: `${database.name}_${service}`,
              reader: `${database.name}_${service}_reader`,
              schema: `${namespace}_${service}`,
            },
          ]),
        ) as Record<ServiceName, { owner: string; reader: string; schema: string }>)
      : undefined;
  if (pgRoles) for (const roles of Object.values(pgRoles)) await provisionServiceRoles(database.url, roles);
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
    const user = secure?.users[name];
    const process = await startServiceProcess({
      name,
      natsUrl,
      databaseUrl: database.url,
      namespace,
      tls: pki,
      env: {
        ...env,
        ...(user ? { NATS_USER: user.user, NATS_PASSWORD: user.password } : {}),
        ...(pgRoles
          ? {
              DATABASE_URL: urlAsRole(database.url, pgRoles[name].owner),
              DATABASE_QUERY_URL: urlAsRole(database.url, pgRoles[name].reader),
            }
          : {}),
      },
      ...(port ? { port } : {}),
    });
    grpcPorts.set(name, Number(process.grpcAddress.split(":").pop()));
    services.set(name, process);
  };
  const admin = secure?.users.admin;
  const nc = await connect({ servers: natsUrl, ...(admin ? { user: admin.user, pass: admin.password } : {}) });
  // POT_TEST_NATS_TRACE=<file>: appends every JetStream API subject each user requested (known by
  // its inbox prefix) - how the minimal permissions in packages/devenv/src/nats-auth.ts were checked.
  const traced = new Set<string>();
  const trace = process.env.POT_TEST_NATS_TRACE
    ? nc.subscribe("$JS.API.>", {
        callback: (_error, message) => {
          const who = /^_INBOX_[a-z0-9]+_([a-z]+)\./.exec(message.reply ?? "")?.[1] ?? "other";
          traced.add(
            `${who} ${message.subject.replaceAll(namespace, "<ns>").replaceAll(namespace.toUpperCase(), "<NS>")}`,
          );
        },
      })
    : undefined;
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
  let clock = Date.now();
  return {
    namespace,
    natsUrl,
    databaseUrl: database.url,
    nc,
    ...(secure ? { natsUsers: secure.users, secureNats: secure } : {}),
    ...(pgRoles ? { pgRoles } : {}),
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
      trace?.unsubscribe();
      if (process.env.POT_TEST_NATS_TRACE) {
        const { appendFileSync } = await import("node:fs");
        appendFileSync(process.env.POT_TEST_NATS_TRACE, [...traced].map((line) => `${line}\n`).join(""));
      }
      const codes = await Promise.all([...services.values()].map((s) => s.stop()));
      await nc.close();
      // Run with POT_TEST_SECURE_NATS=1, a suite fails when any client was refused something.
      const violations =
        secure
          ?.log()
          .split("\n")
          .filter((line) => /violation/i.test(line)) ?? [];
      if (secure) await secure.stop();
      if (options.secureNats === undefined && violations.length > 0) {
        throw new Error(
          `the NATS server refused ${violations.length} operation(s):\n${violations.slice(0, 20).join("\n")}`,
        );
      } else await deleteNamespace(servers.natsUrl, namespace);
      await database.drop();
      if (pgRoles) {
        await dropServiceRoles(
          servers.databaseUrl,
          Object.values(pgRoles).flatMap((roles) => [roles.owner, roles.reader]),
        );
      }
      await servers.stop();
      return codes;
    },
  };
}
