import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { NETWORK_ID_PATTERN, networkIdOfNamespace } from "@pot/mechanism";
import { LOG_LEVELS, type LogLevel } from "./logger.js";

/** The environment, or any map shaped like it. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Invalid configuration. The message is one sentence, written for the operator who set the variable. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ServiceConfig {
  /** NATS_URL as given: one server URL, or several separated by commas. */
  natsUrl: string;
  /** NATS_URL split into its servers, ready for the NATS client's `servers` option. */
  natsServers: string[];
  /**
   * The service's NATS user: NATS_USER and NATS_PASSWORD, or NATS_CREDS (a .creds file), or the
   * user and password in NATS_URL. All unset on a server without authorization.
   */
  natsCredentials: { user?: string; password?: string; credsFile?: string };
  databaseUrl: string;
  /**
   * DATABASE_QUERY_URL: the role the gRPC queries connect as, one that may only read the service's
   * schema (docs/security.md). Unset: queries use DATABASE_URL's role in read-only transactions.
   */
  databaseQueryUrl?: string;
  /** host:port the gRPC server binds; port 0 picks a free port. */
  grpcAddress: string;
  /** Prefix of every stream, consumer and schema name this deployment owns. */
  namespace: string;
  /**
   * POT_NETWORK_ID: the network's id, the first field of every signed payload (so a signature made in
   * one network never verifies in another). The operator names it again in Bootstrap, which is refused
   * unless it matches. Default: the namespace with '_' as '-' (`pot`). Every service of a network, and
   * every replica, must be configured with the same id.
   */
  networkId: string;
  logLevel: LogLevel;
  shutdownGraceMs: number;
  /**
   * POT_CLOCK: "system" (the default), or "controlled" for tests, where the clock every decision
   * reads is set over NATS request/reply on `<namespace>.clock.<service>`. Never use it in production.
   */
  clock: "system" | "controlled";
  /**
   * STREAM_REPLICAS: copies of the service's stream in a NATS cluster (1, or 3 in production);
   * its durable consumers follow the stream's replication.
   */
  streamReplicas: number;
  /** GRPC_TLS_CERT, GRPC_TLS_KEY, GRPC_TLS_CA (mutual TLS), or GRPC_INSECURE=true (local development only). */
  grpcTransport: GrpcTransport;
  /** CONSISTENCY_WAIT_MAX_MS: the longest a query waits for a consistency token or min_sequence. */
  consistencyWaitMaxMs: number;
  /** GRPC_*: the gRPC server's limits (see grpc-limits.ts). */
  grpc: GrpcLimits;
  /**
   * DEAD_LETTER_AFTER: attempts a reaction or a read-model projection gets at an event that fails
   * before the event goes to the service's dead-letter stream and the consumer moves on (1-100,
   * default 5). Events that cannot be decoded or are invalid are dead-lettered at once.
   */
  deadLetterAfter: number;
}

/** What one client connection may use of the gRPC server. */
export interface GrpcLimits {
  /** GRPC_MAX_RECEIVE_BYTES: the largest request message accepted (RESOURCE_EXHAUSTED above it). */
  maxReceiveBytes: number;
  /** GRPC_MAX_CONCURRENT_STREAMS: calls one connection may have open at once. */
  maxConcurrentStreams: number;
  /** GRPC_KEEPALIVE_MS: the server pings an idle connection this often... */
  keepaliveMs: number;
  /** GRPC_KEEPALIVE_TIMEOUT_MS: ...and closes it when the ping is not answered within this. */
  keepaliveTimeoutMs: number;
  /** GRPC_MAX_CONNECTION_IDLE_MS: a connection without calls for this long is closed. */
  maxConnectionIdleMs: number;
  /** GRPC_MAX_CONNECTION_AGE_MS: a connection is asked to go away after this long (clients reconnect)... */
  maxConnectionAgeMs: number;
  /** GRPC_MAX_CONNECTION_AGE_GRACE_MS: ...and closed this long after, its calls cancelled. */
  maxConnectionAgeGraceMs: number;
}

export const GRPC_LIMIT_DEFAULTS: GrpcLimits = {
  maxReceiveBytes: 1024 * 1024,
  maxConcurrentStreams: 256,
  keepaliveMs: 60_000,
  keepaliveTimeoutMs: 20_000,
  maxConnectionIdleMs: 15 * 60_000,
  maxConnectionAgeMs: 60 * 60_000,
  maxConnectionAgeGraceMs: 30_000,
};

export const SERVICE_CONFIG_DEFAULTS = {
  natsUrl: "nats://127.0.0.1:4222",
  databaseUrl: "postgres://postgres@127.0.0.1:5432/postgres",
  namespace: "pot",
  logLevel: "info",
  shutdownGraceMs: 10_000,
  streamReplicas: 1,
  consistencyWaitMaxMs: 5_000,
  deadLetterAfter: 5,
} as const;

/** Reads the configuration every service shares. Throws ConfigError on the first invalid variable. */
export function readServiceConfig(env: Env, options: { defaultGrpcAddress: string }): ServiceConfig {
  const natsUrl = readNatsUrl(env, "NATS_URL", SERVICE_CONFIG_DEFAULTS.natsUrl);
  const namespace = readMatching(
    env,
    "POT_NAMESPACE",
    SERVICE_CONFIG_DEFAULTS.namespace,
    /^[a-z][a-z0-9_]{0,31}$/,
    "a namespace (a lowercase letter followed by at most 31 lowercase letters, digits or underscores)",
  );
  return {
    natsUrl,
    natsServers: natsUrl.split(","),
    natsCredentials: {
      ...optional("user", raw(env, "NATS_USER")),
      ...optional("password", raw(env, "NATS_PASSWORD")),
      ...optional("credsFile", raw(env, "NATS_CREDS")),
    },
    databaseUrl: readUrl(env, "DATABASE_URL", SERVICE_CONFIG_DEFAULTS.databaseUrl, ["postgres:", "postgresql:"]),
    ...(raw(env, "DATABASE_QUERY_URL") !== undefined
      ? { databaseQueryUrl: readUrl(env, "DATABASE_QUERY_URL", "", ["postgres:", "postgresql:"]) }
      : {}),
    grpcAddress: readAddress(env, "GRPC_ADDRESS", options.defaultGrpcAddress),
    namespace,
    networkId: readMatching(
      env,
      "POT_NETWORK_ID",
      networkIdOfNamespace(namespace),
      NETWORK_ID_PATTERN,
      "a network id (1-64 characters of a-z, 0-9 and '-')",
    ),
    logLevel: readOneOf(env, "LOG_LEVEL", LOG_LEVELS, SERVICE_CONFIG_DEFAULTS.logLevel),
    shutdownGraceMs: readInteger(env, "SHUTDOWN_GRACE_MS", SERVICE_CONFIG_DEFAULTS.shutdownGraceMs, {
      min: 0,
      max: 600_000,
    }),
    clock: readOneOf(env, "POT_CLOCK", ["system", "controlled"] as const, "system"),
    streamReplicas: readInteger(env, "STREAM_REPLICAS", SERVICE_CONFIG_DEFAULTS.streamReplicas, { min: 1, max: 5 }),
    consistencyWaitMaxMs: readInteger(env, "CONSISTENCY_WAIT_MAX_MS", SERVICE_CONFIG_DEFAULTS.consistencyWaitMaxMs, {
      min: 0,
      max: 60_000,
    }),
    deadLetterAfter: readInteger(env, "DEAD_LETTER_AFTER", SERVICE_CONFIG_DEFAULTS.deadLetterAfter, {
      min: 1,
      max: 100,
    }),
    grpc: readGrpcLimits(env),
    grpcTransport: readGrpcTransport(env),
  };
}

/** The GRPC_* limits, each within a range that keeps the server usable. */
export function readGrpcLimits(env: Env): GrpcLimits {
  const d = GRPC_LIMIT_DEFAULTS;
  return {
    maxReceiveBytes: readInteger(env, "GRPC_MAX_RECEIVE_BYTES", d.maxReceiveBytes, {
      min: 16 * 1024,
      max: 64 * 1024 * 1024,
    }),
    maxConcurrentStreams: readInteger(env, "GRPC_MAX_CONCURRENT_STREAMS", d.maxConcurrentStreams, {
      min: 1,
      max: 65_535,
    }),
    keepaliveMs: readInteger(env, "GRPC_KEEPALIVE_MS", d.keepaliveMs, { min: 1_000, max: 24 * 3_600_000 }),
    keepaliveTimeoutMs: readInteger(env, "GRPC_KEEPALIVE_TIMEOUT_MS", d.keepaliveTimeoutMs, {
      min: 1_000,
      max: 600_000,
    }),
    maxConnectionIdleMs: readInteger(env, "GRPC_MAX_CONNECTION_IDLE_MS", d.maxConnectionIdleMs, {
      min: 1_000,
      max: 7 * 24 * 3_600_000,
    }),
    maxConnectionAgeMs: readInteger(env, "GRPC_MAX_CONNECTION_AGE_MS", d.maxConnectionAgeMs, {
      min: 1_000,
      max: 7 * 24 * 3_600_000,
    }),
    maxConnectionAgeGraceMs: readInteger(env, "GRPC_MAX_CONNECTION_AGE_GRACE_MS", d.maxConnectionAgeGraceMs, {
      min: 0,
      max: 3_600_000,
    }),
  };
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}

// Each reader treats an unset or empty variable as absent and uses the fallback, which is validated
// like any other value so that a bad per-service default fails loudly too.

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === "" ? undefined : value;
}

export function readString(env: Env, name: string, fallback: string): string {
  return raw(env, name) ?? fallback;
}

export function readMatching(env: Env, name: string, fallback: string, pattern: RegExp, description: string): string {
  const value = readString(env, name, fallback);
  if (!pattern.test(value)) throw new ConfigError(name, `${name} ${JSON.stringify(value)} is not ${description}`);
  return value;
}

export function readInteger(
  env: Env,
  name: string,
  fallback: number,
  { min = 0, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number } = {},
): number {
  const text = raw(env, name);
  const value = text === undefined ? fallback : /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(
      name,
      `${name} ${JSON.stringify(text ?? String(fallback))} is not a whole number between ${min} and ${max}`,
    );
  }
  return value;
}

export function readOneOf<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const value = readString(env, name, fallback);
  if (!(choices as readonly string[]).includes(value)) {
    throw new ConfigError(name, `${name} ${JSON.stringify(value)} is not one of ${choices.join(", ")}`);
  }
  return value as T;
}

/** host:port, [ipv6]:port; the port may be 0. */
export function readAddress(env: Env, name: string, fallback: string): string {
  const value = readString(env, name, fallback);
  if (!isHostPort(value)) throw new ConfigError(name, `${name} ${JSON.stringify(value)} is not a host:port address`);
  return value;
}

function isHostPort(value: string): boolean {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)):(\d{1,5})$/.exec(value);
  return match !== null && Number(match[3]) <= 65_535;
}

/**
 * A URL with one of the given protocols and a host. The value is never echoed: connection URLs
 * carry passwords, and error messages end up in logs.
 */
export function readUrl(env: Env, name: string, fallback: string, protocols: readonly string[]): string {
  const value = readString(env, name, fallback);
  if (!isUrl(value, protocols)) {
    const expected = protocols.map((protocol) => `${protocol}//`).join(" or ");
    throw new ConfigError(
      name,
      `${name} is not a ${expected} URL with a host (value not shown: it may hold a password)`,
    );
  }
  return value;
}

function isUrl(value: string, protocols: readonly string[]): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return protocols.includes(url.protocol) && url.hostname !== "";
}

function readNatsUrl(env: Env, name: string, fallback: string): string {
  const value = readString(env, name, fallback);
  if (!value.split(",").every((server) => isUrl(server, ["nats:", "tls:"]))) {
    throw new ConfigError(
      name,
      `${name} is not a nats:// or tls:// URL with a host, or a comma-separated list of them (value not shown: it may hold a password)`,
    );
  }
  return value;
}

/** `address` with its port replaced, e.g. to report "127.0.0.1:0" as the port actually bound. */
export function withPort(address: string, port: number): string {
  return address.replace(/:\d+$/, `:${port}`);
}

/**
 * How the gRPC server speaks: mutual TLS (the default, and the only mode for a real network), or
 * plaintext without any caller identity when GRPC_INSECURE=true is chosen for local development.
 */
export type GrpcTransport =
  | { readonly mode: "insecure" }
  | {
      readonly mode: "mtls";
      /** PEM: the server's certificate (chain), its private key, and the CA that client certificates must chain to. */
      readonly certificate: Buffer;
      readonly privateKey: Buffer;
      readonly ca: Buffer;
      /** Where they were read from, for the start-up log. */
      readonly files: { readonly certificate: string; readonly privateKey: string; readonly ca: string };
    };

export const GRPC_TLS_VARIABLES = ["GRPC_TLS_CERT", "GRPC_TLS_KEY", "GRPC_TLS_CA"] as const;

/**
 * GRPC_TLS_CERT, GRPC_TLS_KEY and GRPC_TLS_CA (PEM file paths), or GRPC_INSECURE=true. Refuses a
 * missing, unreadable, expired or mismatched file, and the two modes at once, naming the variable.
 */
export function readGrpcTransport(env: Env): GrpcTransport {
  const insecure = readOneOf(env, "GRPC_INSECURE", ["true", "false"] as const, "false") === "true";
  const set = GRPC_TLS_VARIABLES.filter((name) => (env[name] ?? "") !== "");
  if (insecure) {
    if (set.length > 0) {
      throw new ConfigError(
        "GRPC_INSECURE",
        `GRPC_INSECURE=true and ${set.join(", ")} are both set: choose mutual TLS or (for local development only) plaintext`,
      );
    }
    return { mode: "insecure" };
  }
  const missing = GRPC_TLS_VARIABLES.find((name) => (env[name] ?? "") === "");
  if (missing !== undefined) {
    throw new ConfigError(
      missing,
      `${missing} is not set: the gRPC server needs GRPC_TLS_CERT, GRPC_TLS_KEY and GRPC_TLS_CA (PEM files) for mutual TLS, ` +
        "or GRPC_INSECURE=true for plaintext on a local development machine",
    );
  }
  const files = { certificate: env.GRPC_TLS_CERT!, privateKey: env.GRPC_TLS_KEY!, ca: env.GRPC_TLS_CA! };
  const certificate = readPem("GRPC_TLS_CERT", files.certificate);
  const privateKey = readPem("GRPC_TLS_KEY", files.privateKey);
  const ca = readPem("GRPC_TLS_CA", files.ca);
  const leaf = parseCertificate("GRPC_TLS_CERT", files.certificate, certificate);
  parseCertificate("GRPC_TLS_CA", files.ca, ca);
  let key;
  try {
    key = createPrivateKey(privateKey);
  } catch (error) {
    throw new ConfigError(
      "GRPC_TLS_KEY",
      `GRPC_TLS_KEY ${files.privateKey} is not a PEM private key: ${message(error)}`,
    );
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new ConfigError(
      "GRPC_TLS_KEY",
      `GRPC_TLS_KEY ${files.privateKey} is not the private key of the certificate in ${files.certificate}`,
    );
  }
  return { mode: "mtls", certificate, privateKey, ca, files };
}

function readPem(variable: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(variable, `${variable} ${file} cannot be read: ${message(error)}`);
  }
}

function parseCertificate(variable: string, file: string, pem: Buffer): X509Certificate {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pem);
  } catch (error) {
    throw new ConfigError(variable, `${variable} ${file} is not a PEM certificate: ${message(error)}`);
  }
  if (Date.parse(certificate.validTo) < Date.now()) {
    throw new ConfigError(variable, `${variable} ${file} expired on ${new Date(certificate.validTo).toISOString()}`);
  }
  return certificate;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
