import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  createTestDatabase,
  freePort,
  startLocalNats,
  startPostgresProcess,
  startServiceProcess,
  uniqueNamespace,
  type NatsRole,
  type NatsUser,
  type Pki,
  type PostgresProcess,
  type ServerHandle,
  type ServiceName,
  type ServiceProcess,
} from "@pot/devenv";
import { connectClients, type Clients } from "./clients.js";
import { TEST_NETWORK } from "./players.js";
import { SERVICES } from "./system.js";
import { testPki } from "./tls.js";

/** Replicas of each service the rig runs. */
export const REPLICAS = 2;

export type Fault =
  | { readonly kind: "poison" }
  | { readonly kind: "service"; readonly service: ServiceName; readonly replica: number }
  | { readonly kind: "service-all"; readonly service: ServiceName }
  | { readonly kind: "nats" }
  | { readonly kind: "postgres" };

export function describeFault(fault: Fault): string {
  switch (fault.kind) {
    case "poison":
      return "poison on every stream and aggregate subject";
    case "service":
      return `kill -9 ${fault.service} replica ${fault.replica + 1}`;
    case "service-all":
      return `kill -9 every ${fault.service} replica`;
    case "nats":
      return "kill -9 nats-server";
    case "postgres":
      return "kill -9 postgres (postmaster and backends)";
  }
}

export interface InjectedFault {
  readonly fault: string;
  /** Milliseconds from the kill until everything killed was serving again. */
  readonly recoveredMs: number;
}

/**
 * The three services, two replicas each, as separate processes against a nats-server and a
 * PostgreSQL server of the rig's own (temporary folder, free loopback ports), so that any of them
 * can be killed with SIGKILL and started again on the same data and port. The services run as in
 * dev: mutual TLS on gRPC (the test CA), each as its own NATS user with the network's permissions.
 * The shared servers of the machine are never touched.
 */
export interface FaultRig {
  readonly namespace: string;
  readonly natsUrl: string;
  /** The rig's test database (on its own Postgres). */
  readonly databaseUrl: string;
  readonly users: Readonly<Record<NatsRole, NatsUser>>;
  readonly pki: Pki;
  /** One set of clients per replica: index i calls replica i of each service. */
  readonly clients: readonly Clients[];
  /** The admin's connection (reconnects across broker restarts). */
  readonly nc: NatsConnection;
  /** What inject() did so far. */
  readonly injected: readonly InjectedFault[];
  /** SIGKILLs what the fault names, waits `downMs`, starts it again where it was and waits until it serves. */
  inject(fault: Exclude<Fault, { kind: "poison" }>, downMs: number): Promise<InjectedFault>;
  /** Records a fault injected by the caller (poison). */
  record(fault: Fault, tookMs: number): void;
  /** The logs of every service process, for a failure's message. */
  logs(): string;
  stop(): Promise<void>;
}

export async function startFaultRig(log: (line: string) => void = () => undefined): Promise<FaultRig> {
  const dir = mkdtempSync(join(tmpdir(), "pot-faults-"));
  const namespace = uniqueNamespace("f");
  const natsPort = await freePort();
  const pgPort = await freePort();
  let nats: ServerHandle | undefined;
  let postgres: PostgresProcess | undefined;
  const services = new Map<ServiceName, (ServiceProcess | undefined)[]>();
  const ports = new Map<ServiceName, number[]>();
  const injected: InjectedFault[] = [];
  const exitedLogs: string[] = [];
  let nc: NatsConnection | undefined;
  let clients: Clients[] = [];

  const startNats = async () => {
    nats = await startLocalNats(dir, log, { authNamespace: namespace, port: natsPort });
    return nats;
  };
  const startPostgres = async () => {
    postgres = await startPostgresProcess(dir, log, { port: pgPort });
    return postgres;
  };

  try {
    const broker = await startNats();
    const users = broker.natsUsers;
    if (users === undefined) throw new Error("the rig's nats-server has no users");
    const server = await startPostgres();
    const database = await createTestDatabase(server.url, "pot_faults");
    const pki = await testPki();

    const launch = async (service: ServiceName, replica: number) => {
      const port = ports.get(service)?.[replica] ?? (await freePort());
      const process = await startServiceProcess({
        name: service,
        natsUrl: broker.url,
        databaseUrl: database.url,
        namespace,
        tls: pki,
        port,
        // Six services, a broker and Postgres on a small machine: a restart may take a while.
        startTimeoutMs: 120_000,
        env: {
          POT_NETWORK_ID: TEST_NETWORK,
          DEADLINE_SWEEP_MS: "500",
          // Attempts before an event that keeps failing is dead-lettered (the poison includes one).
          DEAD_LETTER_AFTER: "3",
          NATS_USER: users[service].user,
          NATS_PASSWORD: users[service].password,
        },
      });
      const list = services.get(service) ?? [];
      list[replica] = process;
      services.set(service, list);
      const known = ports.get(service) ?? [];
      known[replica] = port;
      ports.set(service, known);
    };
    // One replica of each first (the first start creates the streams and the schemas), then the others.
    for (const service of SERVICES) await launch(service, 0);
    for (let replica = 1; replica < REPLICAS; replica++) {
      await Promise.all(SERVICES.map((service) => launch(service, replica)));
    }
    clients = Array.from({ length: REPLICAS }, (_, replica) =>
      connectClients(
        {
          identity: services.get("identity")![replica]!.grpcAddress,
          matchmaker: services.get("matchmaker")![replica]!.grpcAddress,
          adjudicator: services.get("adjudicator")![replica]!.grpcAddress,
        },
        pki,
      ),
    );
    nc = await connect({
      servers: broker.url,
      user: users.admin.user,
      pass: users.admin.password,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });

    const killService = async (service: ServiceName, replica: number) => {
      const process = services.get(service)?.[replica];
      if (!process) throw new Error(`${service} replica ${replica} is not running`);
      services.get(service)![replica] = undefined;
      process.child.kill("SIGKILL");
      await process.stop("SIGKILL");
      exitedLogs.push(`--- ${service} replica ${replica + 1} (killed)\n${process.logs()}`);
    };

    const inject = async (fault: Exclude<Fault, { kind: "poison" }>, downMs: number): Promise<InjectedFault> => {
      const started = performance.now();
      switch (fault.kind) {
        case "service":
          await killService(fault.service, fault.replica);
          await sleep(downMs);
          await launch(fault.service, fault.replica);
          break;
        case "service-all": {
          const replicas = Array.from({ length: REPLICAS }, (_, replica) => replica);
          await Promise.all(replicas.map((replica) => killService(fault.service, replica)));
          await sleep(downMs);
          await Promise.all(replicas.map((replica) => launch(fault.service, replica)));
          break;
        }
        case "nats": {
          const pid = nats?.pid;
          if (pid === undefined) throw new Error("the rig's nats-server has no pid");
          await killAndWait([pid]);
          await sleep(downMs);
          await startNats();
          await waitFor("the services to reconnect to NATS", () => servicesServe(clients), 60_000);
          break;
        }
        case "postgres": {
          const pid = postgres?.pid;
          if (pid === undefined) throw new Error("the rig's postgres is not running");
          // The postmaster and every backend at once, as a crash of the server would.
          await killAndWait([pid, ...childrenOf(pid)]);
          await postgres?.exited;
          await sleep(downMs);
          await startPostgres();
          break;
        }
      }
      const done = { fault: describeFault(fault), recoveredMs: Math.round(performance.now() - started) };
      injected.push(done);
      log(`${done.fault}: serving again after ${done.recoveredMs} ms`);
      return done;
    };

    return {
      namespace,
      natsUrl: broker.url,
      databaseUrl: database.url,
      users,
      pki,
      clients,
      nc,
      injected,
      inject,
      record: (fault, tookMs) => injected.push({ fault: describeFault(fault), recoveredMs: Math.round(tookMs) }),
      logs: () =>
        [
          ...exitedLogs,
          ...[...services].flatMap(([service, list]) =>
            list.map(
              (process, replica) => `--- ${service} replica ${replica + 1}\n${process?.logs() ?? "(not running)"}`,
            ),
          ),
        ].join("\n"),
      async stop() {
        for (const set of clients) set.close();
        await nc?.close().catch(() => undefined);
        await Promise.all([...services.values()].flat().map((process) => process?.stop()));
        await postgres?.stop();
        await nats?.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    for (const set of clients) set.close();
    await nc?.close().catch(() => undefined);
    await Promise.all([...services.values()].flat().map((process) => process?.stop()));
    await postgres?.stop().catch(() => undefined);
    await nats?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Each replica of each service answers a query (a missing member is an answer too). */
async function servicesServe(clients: readonly Clients[]): Promise<boolean> {
  const query = { minSequence: 0n, consistencyToken: "" };
  const probes = clients.flatMap((set) => [
    set.identity.getAgreement({}),
    set.matchmaker.getStake({ memberId: "0".repeat(64), ...query }).catch(notFoundIsFine),
    set.adjudicator.getPolicy({ version: 0, ...query }).catch(notFoundIsFine),
  ]);
  await Promise.all(probes);
  return true;
}

function notFoundIsFine(error: { code?: number }): void {
  if (error.code !== 5) throw error;
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await probe()) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${String(last)}`);
    await sleep(200);
  }
}

/** The processes whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = statOf(Number(entry));
    if (stat?.ppid === pid) children.push(Number(entry));
  }
  return children;
}

function statOf(pid: number): { state: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] ?? "", ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/** SIGKILL to every pid, then waits until none of them runs (gone, or a zombie). */
async function killAndWait(pids: readonly number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 10_000;
  while (pids.some((pid) => (statOf(pid)?.state ?? "Z") !== "Z")) {
    if (Date.now() > deadline) throw new Error(`processes ${pids.join(", ")} did not die after SIGKILL`);
    await sleep(20);
  }
}
