import { randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import pg from "pg";

const NAMESPACE = /^[a-z][a-z0-9_]{0,31}$/;
const IDENTIFIER_PREFIX = /^[a-z][a-z0-9_]{0,39}$/;

export interface TestDatabase {
  /** databaseUrl with its database replaced by the new one. */
  readonly url: string;
  readonly name: string;
  /** Terminates the connections to it, then drops it. */
  drop(): Promise<void>;
}

/** Creates an empty database `<prefix>_<random>` (default `pot_t_<12 hex>`) on the server of databaseUrl. */
export async function createTestDatabase(databaseUrl: string, prefix = "pot_t"): Promise<TestDatabase> {
  if (!IDENTIFIER_PREFIX.test(prefix)) throw new Error(`database prefix '${prefix}' must match ${IDENTIFIER_PREFIX}`);
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  await withClient(databaseUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  let dropping: Promise<void> | undefined;
  return {
    url: url.href,
    name,
    drop: () =>
      (dropping ??= withClient(databaseUrl, async (client) => {
        for (let attempt = 1; ; attempt++) {
          await client.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1", [name]);
          try {
            await client.query(`DROP DATABASE IF EXISTS "${name}"`);
            return;
          } catch (error) {
            // 55006 object_in_use: a client reconnected between the two statements.
            if ((error as { code?: string }).code !== "55006" || attempt >= 5) throw error;
          }
        }
      })),
  };
}

/** A fresh namespace for streams, subjects and consumers: `<prefix><10 hex>`, e.g. "t3f9a0c51be". */
export function uniqueNamespace(prefix = "t"): string {
  const namespace = `${prefix}${randomBytes(5).toString("hex")}`;
  if (!NAMESPACE.test(namespace))
    throw new Error(`namespace prefix '${prefix}' gives '${namespace}', not ${NAMESPACE}`);
  return namespace;
}

/**
 * Deletes every JetStream stream whose name starts with `NAMESPACE_` (the namespace upper-cased),
 * i.e. the streams of the services run under that namespace. Returns nothing; streams of other
 * namespaces are left alone (beware that namespace "a" also covers "a_b").
 */
export async function deleteNamespace(natsUrl: string, namespace: string): Promise<void> {
  if (!NAMESPACE.test(namespace)) throw new Error(`namespace '${namespace}' is invalid: it must match ${NAMESPACE}`);
  const prefix = `${namespace.toUpperCase()}_`;
  const nc = await connect({ servers: natsUrl, reconnect: false });
  try {
    const jsm = await jetstreamManager(nc);
    const doomed: string[] = [];
    for await (const name of jsm.streams.names()) if (name.startsWith(prefix)) doomed.push(name);
    for (const name of doomed) await jsm.streams.delete(name);
  } finally {
    await nc.close();
  }
}

async function withClient<T>(databaseUrl: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/**
 * Turns on deny_purge and deny_delete on the network's existing streams, as a NATS user allowed to
 * update streams (the admin): a service's own user may only create its stream, so a stream made
 * before these settings existed is sealed here (`npm start` does it before starting the services).
 * Returns the streams it updated.
 */
export async function sealNetworkStreams(
  natsUrl: string,
  namespace: string,
  as?: { readonly user: string; readonly password: string },
): Promise<string[]> {
  if (!NAMESPACE.test(namespace)) throw new Error(`namespace '${namespace}' is invalid: it must match ${NAMESPACE}`);
  const nc = await connect({
    servers: natsUrl,
    reconnect: false,
    ...(as ? { user: as.user, pass: as.password } : {}),
  });
  try {
    const jsm = await jetstreamManager(nc);
    const sealed: string[] = [];
    const services = ["identity", "matchmaker", "adjudicator"];
    // The event streams and the dead-letter streams (<NS>_DEAD_<SERVICE>).
    const names = services.flatMap((service) => [
      `${namespace.toUpperCase()}_${service.toUpperCase()}`,
      `${namespace.toUpperCase()}_DEAD_${service.toUpperCase()}`,
    ]);
    for (const name of names) {
      const info = await jsm.streams.info(name).catch(() => undefined);
      if (info === undefined || (info.config.deny_purge && info.config.deny_delete)) continue;
      await jsm.streams.update(name, { ...info.config, deny_purge: true, deny_delete: true });
      sealed.push(name);
    }
    return sealed;
  } finally {
    await nc.close();
  }
}
