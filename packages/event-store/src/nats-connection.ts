import { readFileSync } from "node:fs";
import { credsAuthenticator, type NodeConnectionOptions } from "@nats-io/transport-node";

/**
 * How a client proves who it is to NATS: a user and password (nats-server 2.9 `authorization`
 * users; also accepted in the URL, `nats://user:password@host:4222`), or a creds file (a JWT and
 * an NKey seed, for servers in operator mode; see docs/security.md). Explicit values win over the
 * URL's. Nothing set: no credentials (a server without authorization, e.g. CI's shared one).
 */
export interface NatsCredentials {
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  /** Path of a `.creds` file (JWT + NKey seed). */
  readonly credsFile?: string | undefined;
}

export type NatsConnectOptions = Pick<NodeConnectionOptions, "servers" | "user" | "pass" | "authenticator">;

/**
 * The connection options for `url` (one URL, or several separated by commas) and `credentials`:
 * credentials in a URL are taken out of it (the client would not use them, and a URL ends up in
 * logs) and used unless others are given.
 */
export function natsConnectOptions(url: string, credentials: NatsCredentials = {}): NatsConnectOptions {
  let fromUrl: { user: string; password: string } | undefined;
  const servers = url.split(",").map((server) => {
    const trimmed = server.trim();
    if (!URL.canParse(trimmed)) return trimmed;
    const parsed = new URL(trimmed);
    if (parsed.username === "" && parsed.password === "") return trimmed;
    fromUrl ??= { user: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password) };
    return `${parsed.protocol}//${parsed.host}`;
  });
  if (credentials.credsFile !== undefined && credentials.credsFile !== "") {
    let creds: Uint8Array;
    try {
      creds = readFileSync(credentials.credsFile);
    } catch (error) {
      throw new Error(`cannot read the NATS creds file ${credentials.credsFile}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return { servers, authenticator: credsAuthenticator(creds) };
  }
  const user = nonEmpty(credentials.user) ?? fromUrl?.user;
  const pass =
    nonEmpty(credentials.password) ?? (nonEmpty(credentials.user) === undefined ? fromUrl?.password : undefined);
  if (user === undefined) return { servers };
  return { servers, user, ...(pass !== undefined ? { pass } : {}) };
}

/** The credentials in the environment: NATS_USER, NATS_PASSWORD, NATS_CREDS. */
export function natsCredentialsFromEnv(env: Readonly<Record<string, string | undefined>>): NatsCredentials {
  return { user: nonEmpty(env.NATS_USER), password: nonEmpty(env.NATS_PASSWORD), credsFile: nonEmpty(env.NATS_CREDS) };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

/**
 * The inbox prefix of a client of `role` ("identity", "reader", ...) in `namespace`: NATS users of
 * the network may subscribe only under their own (see @pot/devenv natsPermissions).
 */
export function natsInboxPrefix(namespace: string, role: string): string {
  return `_INBOX_${namespace}_${role}`;
}
