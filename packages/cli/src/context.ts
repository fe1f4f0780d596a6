import { homedir } from "node:os";
import { join } from "node:path";
import { connect as connectNats, type NatsConnection } from "@nats-io/transport-node";
import { natsConnectOptions, natsInboxPrefix, type NatsCredentials } from "@pot/ops";
import {
  DEFAULT_ADDRESSES,
  MoveStore,
  PotClient,
  readKeyFile,
  type LoadedKey,
  type ServiceAddresses,
} from "@pot/client";
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
} as const;

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
  };
}

function optionalText(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * What a command works with. Connections are opened on first use and closed when the command ends,
 * so `pot keys show` never dials anything.
 */
export class Context {
  private potClient: PotClient | undefined;
  private natsConnection: Promise<NatsConnection> | undefined;

  constructor(
    readonly settings: Settings,
    readonly out: Output,
    /** Aborted on Ctrl-C: long-running commands stop cleanly. */
    readonly signal: AbortSignal,
    /** Where a global option's value came from: "cli", "env", "default" (commander's sources). */
    readonly optionSource: (name: string) => string | undefined = () => undefined,
  ) {}

  get client(): PotClient {
    this.potClient ??= PotClient.connect(this.settings.addresses, {
      deadlineMs: this.settings.timeoutMs,
      ...(this.settings.networkId !== undefined ? { networkId: this.settings.networkId } : {}),
    });
    return this.potClient;
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
    this.potClient?.close();
    const nc = await this.natsConnection?.catch(() => undefined);
    await nc?.close();
  }
}
