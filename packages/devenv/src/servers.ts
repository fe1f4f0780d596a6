import { join } from "node:path";
import { startNatsContainer, startPostgresContainer } from "./containers.js";
import { startLocalNats, startLocalPostgres, Unavailable, type NatsUser, type ServerHandle } from "./local-servers.js";
import type { NatsRole } from "./nats-auth.js";
import { answers, messageOf, probeNats, probePostgres, redact } from "./probes.js";
import { repoRoot } from "./repo.js";

export interface Servers {
  readonly natsUrl: string;
  readonly databaseUrl: string;
  /**
   * Set when ensureServers started NATS with the users and permissions of a network
   * (`natsAuthNamespace`): every role's credentials. Unset on a server that was found.
   */
  readonly natsUsers?: Readonly<Record<NatsRole, NatsUser>>;
  /** What ensureServers started (and stop() stops), e.g. "nats-server (local)"; empty when both were found. */
  readonly started: string[];
  stop(): Promise<void>;
}

export interface EnsureServersOptions {
  log?: (line: string) => void;
  /** Internal (tests): the environment read instead of process.env (NATS_URL, DATABASE_URL, CI). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Internal (tests): the addresses tried when the variables are unset. */
  defaults?: { natsUrl?: string; databaseUrl?: string };
  /** Internal (tests): where started servers keep their data; default `<repo>/.pot`. */
  dataDir?: string;
  /** Internal (tests): which ways of starting servers may be tried (all by default). */
  fallbacks?: { local?: boolean; containers?: boolean };
  /**
   * A NATS server started from PATH gets the users and permissions of this namespace's network
   * (`npm start`). A server that is found (NATS_URL, the default address) is used as it is.
   */
  natsAuthNamespace?: string;
}

export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
export const DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres";

interface Service {
  readonly title: string;
  readonly variable: "NATS_URL" | "DATABASE_URL";
  readonly debian: string;
  readonly defaultUrl: string;
  readonly probe: (url: string) => Promise<void>;
  readonly startLocal: (dataDir: string, log: (line: string) => void) => Promise<ServerHandle>;
  readonly startContainer: (log: (line: string) => void) => Promise<ServerHandle>;
}

/**
 * Finds a NATS server with JetStream and a PostgreSQL server, or starts them. For each of the two:
 * 1. the address in NATS_URL / DATABASE_URL, which must answer;
 * 2. the local default address, when it answers;
 * 3. a server started from PATH (nats-server; initdb + pg_ctl) with its data under `<repo>/.pot`;
 * 4. a container, when a Docker engine answers;
 * 5. otherwise an Error saying what to install or set. Under CI the error says so; nothing is skipped.
 */
export async function ensureServers(options: EnsureServersOptions = {}): Promise<Servers> {
  const log = options.log ?? (() => undefined);
  const env = options.env ?? process.env;
  const dataDir = options.dataDir ?? join(repoRoot(), ".pot");
  const services: Service[] = [
    {
      title: "NATS (with JetStream)",
      variable: "NATS_URL",
      debian: "nats-server",
      defaultUrl: options.defaults?.natsUrl ?? DEFAULT_NATS_URL,
      probe: (url) => probeNats(url),
      startLocal: (dataDir, log) =>
        startLocalNats(
          dataDir,
          log,
          options.natsAuthNamespace !== undefined ? { authNamespace: options.natsAuthNamespace } : {},
        ),
      startContainer: startNatsContainer,
    },
    {
      title: "PostgreSQL",
      variable: "DATABASE_URL",
      debian: "postgresql",
      defaultUrl: options.defaults?.databaseUrl ?? DEFAULT_DATABASE_URL,
      probe: (url) => probePostgres(url),
      startLocal: startLocalPostgres,
      startContainer: startPostgresContainer,
    },
  ];
  const results = await Promise.allSettled(
    services.map((service) =>
      find(service, {
        env,
        dataDir,
        log,
        local: options.fallbacks?.local ?? true,
        containers: options.fallbacks?.containers ?? true,
      }),
    ),
  );
  const handles = results.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const failures = results.flatMap((result) => (result.status === "rejected" ? [result.reason as unknown] : []));
  if (failures.length > 0) {
    await Promise.allSettled(handles.map((handle) => handle.stop()));
    const message = failures.map(messageOf).join("\n\n");
    const [first] = failures;
    throw new Error(env.CI ? `CI: a required service is missing, refusing to go on.\n${message}` : message, {
      cause: failures.length === 1 ? first : new AggregateError(failures),
    });
  }
  const [nats, database] = handles as [ServerHandle, ServerHandle];
  let stopping: Promise<void> | undefined;
  return {
    natsUrl: nats.url,
    databaseUrl: database.url,
    ...(nats.natsUsers ? { natsUsers: nats.natsUsers } : {}),
    started: handles.flatMap((handle) => (handle.started === undefined ? [] : [handle.started])),
    stop: () =>
      (stopping ??= (async () => {
        const stopped = await Promise.allSettled([database.stop(), nats.stop()]);
        const errors = stopped.flatMap((result) => (result.status === "rejected" ? [result.reason as unknown] : []));
        if (errors.length > 0)
          throw new AggregateError(errors, `stopping servers: ${errors.map(messageOf).join("; ")}`);
      })()),
  };
}

async function find(
  service: Service,
  context: {
    env: Readonly<Record<string, string | undefined>>;
    dataDir: string;
    log: (line: string) => void;
    local: boolean;
    containers: boolean;
  },
): Promise<ServerHandle> {
  const { env, log } = context;
  const noop = async (): Promise<void> => undefined;
  const configured = env[service.variable];
  if (configured !== undefined && configured !== "") {
    try {
      await service.probe(configured);
    } catch (error) {
      throw new Error(
        `${service.variable}=${redact(configured)} does not answer as ${service.title}: ${messageOf(error)}`,
        { cause: error },
      );
    }
    log(`${service.title}: using ${service.variable}=${redact(configured)}`);
    return { url: configured, stop: noop };
  }
  if (await answers(service.probe(service.defaultUrl))) {
    log(`${service.title}: using the local default ${redact(service.defaultUrl)}`);
    return { url: service.defaultUrl, stop: noop };
  }
  const tried = [`${redact(service.defaultUrl)} does not answer`];
  if (context.local) {
    try {
      return await service.startLocal(context.dataDir, log);
    } catch (error) {
      tried.push(`starting one from PATH failed: ${messageOf(error)}`);
      if (!(error instanceof Unavailable)) log(`${service.title}: ${tried.at(-1)}`);
    }
  }
  if (context.containers) {
    try {
      return await service.startContainer(log);
    } catch (error) {
      tried.push(`containers: ${messageOf(error)}`);
    }
  }
  throw new Error(
    `No ${service.title} server available (${service.variable} is unset; ${tried.join("; ")}).\n` +
      `Install the Debian package \`${service.debian}\` (apt-get install ${service.debian}), ` +
      `start a Docker engine, or set ${service.variable} to a running server.`,
  );
}
