import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect as connectNats, type NatsConnection } from "@nats-io/transport-node";
import { natsConnectOptions, natsInboxPrefix, type NatsCredentials } from "@pot/ops";
import {
  DEFAULT_ADDRESSES,
  LocalFileError,
  MoveStore,
  mutualTls,
  PotClient,
  readKeyFile,
  type LoadedKey,
  type ServiceAddresses,
} from "@pot/client";
import type { KeyPair } from "@pot/mechanism";
import { CliError, EXIT, usageError } from "./exit-codes.js";
import type { Output } from "./output.js";

export const DEFAULTS = {
  ...DEFAULT_ADDRESSES,
  nats: "nats://127.0.0.1:4222",
  database: "postgres://postgres@127.0.0.1:5432/postgres",
  namespace: "pot",
  key: join(homedir(), ".pot", "key.json"),
  moves: join(homedir(), ".pot", "moves.json"),
  timeout: 10_000,
  /** The certificates `npm start` creates, when pot runs from the repository (packages/cli/dist/ -> ../../../.pot/tls). */
  tlsDir: fileURLToPath(new URL("../../../.pot/tls", import.meta.url)),
  /** The local network's operator key that `npm start` creates (packages/cli/dist/ -> ../../../.pot). */
  operatorKey: fileURLToPath(new URL("../../../.pot/operator-key.json", import.meta.url)),
} as const;

/** Which client certificate a command presents by default: operator acts need the operator's. */
export type ClientRole = "operator" | "platform";

/** The client side of the services' mutual TLS. */
export interface TlsSettings {
  /** --insecure: plaintext, for services started with GRPC_INSECURE=true. */
  readonly insecure: boolean;
  /** Where the defaults below live (--tls-dir). */
  readonly dir: string;
  readonly ca: string;
  /** --tls-cert and --tls-key; when unset, `<dir>/operator.*` or `<dir>/platform.*` by command. */
  readonly cert: string | undefined;
  readonly key: string | undefined;
}

/** The global options, resolved (flag, else environment variable, else default). */
export interface Settings {
  readonly addresses: ServiceAddresses;
  readonly natsUrl: string;
  /** --nats-user/--nats-password (NATS_USER/NATS_PASSWORD) or --nats-creds (NATS_CREDS), else the URL's. */
  readonly natsCredentials: NatsCredentials;
  readonly databaseUrl: string;
  readonly namespace: string;
  /** --network / POT_NETWORK_ID: the network id to sign for; undefined to ask identity (GetAgreement). */
  readonly networkId: string | undefined;
  readonly keyFile: string;
  readonly movesFile: string;
  readonly timeoutMs: number;
  readonly json: boolean;
  readonly tls: TlsSettings;
  /** --operator-key (repeatable) or POT_OPERATOR_KEYS (comma-separated): the key files operator acts are signed with. */
  readonly operatorKeyFiles: readonly string[];
  /** True when no operator key was named: the default file (`npm start`'s) is used. */
  readonly operatorKeyDefault: boolean;
}

const NAMESPACE = /^[a-z][a-z0-9_]{0,31}$/;

/** Settings from commander's merged options (`optsWithGlobals()`); refuses a malformed namespace. */
export function settingsFrom(options: Record<string, unknown>): Settings {
  const text = (name: keyof typeof DEFAULTS): string => {
    const value = options[name];
    return typeof value === "string" && value !== "" ? value : String(DEFAULTS[name]);
  };
  const namespace = text("namespace");
  if (!NAMESPACE.test(namespace)) {
    throw usageError(
      `namespace '${namespace}' is invalid: use 1-32 characters of a-z, 0-9 and '_', starting with a letter`,
    );
  }
  return {
    addresses: { identity: text("identity"), matchmaker: text("matchmaker"), adjudicator: text("adjudicator") },
    natsUrl: text("nats"),
    natsCredentials: {
      user: optionalText(options.natsUser),
      password: optionalText(options.natsPassword),
      credsFile: optionalText(options.natsCreds),
    },
    databaseUrl: text("database"),
    namespace,
    networkId: typeof options.network === "string" && options.network !== "" ? options.network : undefined,
    keyFile: text("key"),
    movesFile: text("moves"),
    timeoutMs: typeof options.timeout === "number" ? options.timeout : DEFAULTS.timeout,
    json: options.json === true,
    tls: tlsFrom(options),
    ...operatorKeysFrom(options.operatorKey),
  };
}

function operatorKeysFrom(value: unknown): { operatorKeyFiles: string[]; operatorKeyDefault: boolean } {
  const files = (Array.isArray(value) ? value : typeof value === "string" ? [value] : [])
    .flatMap((entry) => String(entry).split(","))
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  return files.length > 0
    ? { operatorKeyFiles: [...new Set(files)], operatorKeyDefault: false }
    : { operatorKeyFiles: [DEFAULTS.operatorKey], operatorKeyDefault: true };
}

function optionalText(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function tlsFrom(options: Record<string, unknown>): TlsSettings {
  const given = (name: string): string | undefined => {
    const value = options[name];
    return typeof value === "string" && value !== "" ? value : undefined;
  };
  const dir = given("tlsDir") ?? DEFAULTS.tlsDir;
  const cert = given("tlsCert");
  const key = given("tlsKey");
  if ((cert === undefined) !== (key === undefined)) {
    throw usageError("give the client certificate and its key together: --tls-cert <file> --tls-key <file>");
  }
  const insecure = options.insecure === true;
  if (insecure && (cert !== undefined || given("tlsCa") !== undefined)) {
    throw usageError("--insecure (plaintext) and --tls-cert/--tls-ca exclude each other");
  }
  return { insecure, dir, ca: given("tlsCa") ?? join(dir, "ca.crt"), cert, key };
}

/**
 * What a command works with. Connections are opened on first use and closed when the command ends,
 * so `pot keys show` never dials anything.
 */
export class Context {
  private readonly potClients = new Map<ClientRole, PotClient>();
  private operatorKeys: Promise<KeyPair[]> | undefined;
  private natsConnection: Promise<NatsConnection> | undefined;

  constructor(
    readonly settings: Settings,
    readonly out: Output,
    /** Aborted on Ctrl-C: long-running commands stop cleanly. */
    readonly signal: AbortSignal,
    /** Where a global option's value came from: "cli", "env", "default" (commander's sources). */
    readonly optionSource: (name: string) => string | undefined = () => undefined,
  ) {}

  /** The services, as a platform (member acts and reads): the platform certificate unless --tls-cert says otherwise. */
  get client(): PotClient {
    return this.clientAs("platform");
  }

  /** The services with the client certificate of `role` (operator acts need "operator"); --tls-cert overrides it. */
  clientAs(role: ClientRole): PotClient {
    let client = this.potClients.get(role);
    if (client === undefined) {
      client = PotClient.connect(this.settings.addresses, {
        deadlineMs: this.settings.timeoutMs,
        ...(this.settings.tls.insecure ? {} : { credentials: this.credentials(role) }),
        ...(this.settings.networkId !== undefined ? { networkId: this.settings.networkId } : {}),
        // Operator acts are signed with the operator key files, read when the first act is signed.
        ...(role === "operator" ? { operators: () => this.operators() } : {}),
      });
      this.potClients.set(role, client);
    }
    return client;
  }

  private credentials(role: ClientRole) {
    const { tls } = this.settings;
    const files = {
      ca: tls.ca,
      cert: tls.cert ?? join(tls.dir, `${role}.crt`),
      key: tls.key ?? join(tls.dir, `${role}.key`),
    };
    try {
      return mutualTls(files);
    } catch (error) {
      if (!(error instanceof LocalFileError)) throw error;
      throw new LocalFileError(
        error.path,
        `${error.message}; \`npm start\` creates the development certificates in ${tls.dir}, ` +
          "else pass --tls-ca, --tls-cert and --tls-key (or POT_TLS_CA, POT_TLS_CERT, POT_TLS_KEY)",
        { cause: error },
      );
    }
  }

  nats(): Promise<NatsConnection> {
    this.natsConnection ??= (async () =>
      connectNats({
        ...natsConnectOptions(this.settings.natsUrl, this.settings.natsCredentials),
        // The read-only user of a network may subscribe only under its inbox prefix.
        inboxPrefix: natsInboxPrefix(this.settings.namespace, "reader"),
        timeout: Math.min(this.settings.timeoutMs, 5_000),
        name: "pot-cli",
      }))().catch((error: unknown) => {
      const servers = natsConnectOptions(this.settings.natsUrl).servers;
      throw new CliError(
        /authorization/i.test((error as Error).message) ? EXIT.permissionDenied : EXIT.unavailable,
        `cannot connect to NATS at ${String(servers)} (--nats): ${(error as Error).message}` +
          (/authorization/i.test((error as Error).message)
            ? " (give a NATS user: --nats-user/--nats-password, NATS_USER/NATS_PASSWORD, or --nats-creds)"
            : ""),
        {
          cause: error,
        },
      );
    });
    return this.natsConnection;
  }

  /** The operator keys of --operator-key (or POT_OPERATOR_KEYS, else `npm start`'s), read once. */
  operators(): Promise<KeyPair[]> {
    this.operatorKeys ??= Promise.all(
      this.settings.operatorKeyFiles.map(async (path) => {
        let loaded: LoadedKey;
        try {
          loaded = await readKeyFile(path);
        } catch (error) {
          if (this.settings.operatorKeyDefault && (error as Error).message.endsWith("does not exist")) {
            throw usageError(
              `operator acts are signed with operator keys: no --operator-key given (or POT_OPERATOR_KEYS), and ${path} ` +
                "(the local network's, which `npm start` creates) does not exist",
            );
          }
          throw error;
        }
        if (loaded.readableByOthers) this.out.warn(`${loaded.path} can be read by other users: chmod 600 it`);
        return loaded.member.keys;
      }),
    );
    return this.operatorKeys;
  }

  /** The member of the key file (--key); warns when others may read the file. */
  async key(): Promise<LoadedKey> {
    let loaded: LoadedKey;
    try {
      loaded = await readKeyFile(this.settings.keyFile);
    } catch (error) {
      if ((error as Error).message.endsWith("does not exist")) {
        throw usageError(`key file ${this.settings.keyFile} does not exist: run \`pot keys generate\` or pass --key`);
      }
      throw error;
    }
    if (loaded.readableByOthers) this.out.warn(`${loaded.path} can be read by other users: chmod 600 it`);
    return loaded;
  }

  get moves(): MoveStore {
    return new MoveStore(this.settings.movesFile);
  }

  async close(): Promise<void> {
    for (const client of this.potClients.values()) client.close();
    const nc = await this.natsConnection?.catch(() => undefined);
    await nc?.close();
  }
}
