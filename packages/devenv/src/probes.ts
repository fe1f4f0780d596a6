import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import pg from "pg";

/** Connects to NATS and checks that JetStream is enabled for the account; throws when not. */
export async function probeNats(
  url: string,
  timeoutMs = 3_000,
  as?: { readonly user: string; readonly password: string },
): Promise<void> {
  const nc = await connect({
    servers: url,
    timeout: timeoutMs,
    reconnect: false,
    maxReconnectAttempts: 0,
    ...(as ? { user: as.user, pass: as.password } : {}),
  });
  try {
    await jetstreamManager(nc, { timeout: timeoutMs });
  } catch (error) {
    throw new Error(`JetStream is not enabled (${messageOf(error)})`, { cause: error });
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** Connects to PostgreSQL and runs `select 1`; throws when it cannot. */
export async function probePostgres(url: string, timeoutMs = 3_000): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  // A server that goes away after connecting emits "error" on the client; the query rejects anyway.
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("select 1");
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function answers(probe: Promise<void>): Promise<boolean> {
  try {
    await probe;
    return true;
  } catch {
    return false;
  }
}

/** The URL without its password, for messages and logs. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === "") return url;
    parsed.password = "***";
    return parsed.href;
  } catch {
    return url;
  }
}

export function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(messageOf).join("; ");
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
