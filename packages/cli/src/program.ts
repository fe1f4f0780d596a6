import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { Context, DEFAULTS, settingsFrom } from "./context.js";
import { describeError, EXIT } from "./exit-codes.js";
import { Output, processIo, type Io } from "./output.js";
import { collect, networkId, positiveInteger } from "./parsers.js";
import { registerDeadLetters } from "./commands/dead-letters.js";
import { registerDemo } from "./commands/demo.js";
import { registerEvents } from "./commands/events.js";
import { registerKeys } from "./commands/keys.js";
import { registerNetwork } from "./commands/network.js";
import { registerOperator } from "./commands/operator.js";
import { registerOps } from "./commands/ops.js";
import { registerPlay } from "./commands/play.js";
import { registerSimulate } from "./commands/simulate.js";
import { registerStatus } from "./commands/status.js";

const VERSION = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string })
  .version;

/** A command's body: it gets the context and commander's parsed arguments and options. */
export type Handler = (ctx: Context, args: unknown[], options: Record<string, unknown>) => Promise<void>;

/** Turns a handler into a commander action: builds the context from the global options, closes it after. */
export type Wrap = (handler: Handler) => (...args: unknown[]) => Promise<void>;

const EXIT_CODE_HELP = `
Exit codes:
  0  success                      6  permission denied (signature, not your move)
  1  unexpected failure           7  already exists
  2  usage, or a local file       8  aborted by a concurrent change: retry
  3  invalid argument (server)    9  a service, NATS or Postgres unavailable or too slow
  4  not found                    10 pot verify found mismatches; pot replay skipped messages
  5  failed precondition (the state does not allow it now; the message says why)`;

export function buildProgram(io: Io, signal: AbortSignal): Command {
  const program = new Command("pot");
  program
    .description("Proof-of-Trust from the command line: keys, genesis, games, status, events, replay and audit.")
    .version(VERSION, "-V, --version")
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      outputError: (text, write) => write(`pot: ${text.replace(/^error: /, "")}`),
    })
    .exitOverride()
    .showSuggestionAfterError(true)
    .addOption(
      new Option("--identity <address>", "identity service gRPC address")
        .env("POT_IDENTITY_ADDRESS")
        .default(DEFAULTS.identity),
    )
    .addOption(
      new Option("--matchmaker <address>", "matchmaker service gRPC address")
        .env("POT_MATCHMAKER_ADDRESS")
        .default(DEFAULTS.matchmaker),
    )
    .addOption(
      new Option("--adjudicator <address>", "adjudicator service gRPC address")
        .env("POT_ADJUDICATOR_ADDRESS")
        .default(DEFAULTS.adjudicator),
    )
    .addOption(new Option("--nats <url>", "NATS server(s), comma-separated").env("NATS_URL").default(DEFAULTS.nats))
    .addOption(
      new Option("--nats-user <user>", "NATS user, e.g. pot-reader (or in the URL: nats://user:password@host)").env(
        "NATS_USER",
      ),
    )
    .addOption(
      new Option("--nats-password <password>", "NATS password (prefer the variable: a flag shows in ps)").env(
        "NATS_PASSWORD",
      ),
    )
    .addOption(
      new Option("--nats-creds <file>", "NATS .creds file (JWT + NKey seed), instead of a user").env("NATS_CREDS"),
    )
    .addOption(
      new Option("--database <url>", "PostgreSQL of the services (replay)")
        .env("DATABASE_URL")
        .default(DEFAULTS.database),
    )
    .addOption(
      new Option("--namespace <ns>", "prefix of the network's streams and schemas").env("POT_NAMESPACE").default("pot"),
    )
    .addOption(
      new Option(
        "--network <id>",
        "the network id every signature names (default: ask identity; `pot bootstrap`: the namespace with '_' as '-')",
      )
        .env("POT_NETWORK_ID")
        .argParser(networkId),
    )
    .addOption(new Option("--key <file>", "your member key file").env("POT_KEY_FILE").default(DEFAULTS.key))
    .addOption(
      new Option(
        "--operator-key <file>",
        "an operator key file that signs operator acts (repeat for M of N; POT_OPERATOR_KEYS: comma-separated; default: <repository>/.pot/operator-key.json, which npm start creates)",
      )
        .env("POT_OPERATOR_KEYS")
        .argParser(collect),
    )
    .addOption(
      new Option("--moves <file>", "where committed moves and nonces are kept until the reveal")
        .env("POT_MOVES_FILE")
        .default(DEFAULTS.moves),
    )
    .addOption(
      new Option("--timeout <ms>", "deadline of each call, in milliseconds")
        .env("POT_TIMEOUT_MS")
        .default(DEFAULTS.timeout)
        .argParser(positiveInteger),
    )
    .addOption(
      new Option(
        "--tls-ca <file>",
        "PEM of the CA that issued the services' certificate (default <tls-dir>/ca.crt)",
      ).env("POT_TLS_CA"),
    )
    .addOption(
      new Option(
        "--tls-cert <file>",
        "your PEM client certificate (default <tls-dir>/operator.crt for operator acts, else <tls-dir>/platform.crt)",
      ).env("POT_TLS_CERT"),
    )
    .addOption(new Option("--tls-key <file>", "the PEM private key of --tls-cert").env("POT_TLS_KEY"))
    .addOption(
      new Option("--tls-dir <dir>", "where the default certificates are (npm start creates them)")
        .env("POT_TLS_DIR")
        .default(DEFAULTS.tlsDir, "<repository>/.pot/tls"),
    )
    .addOption(
      new Option("--insecure", "plaintext gRPC, only for services started with GRPC_INSECURE=true").env("POT_INSECURE"),
    )
    .addOption(new Option("--json", "print the result as one JSON document (bigint as strings, bytes as hex)"))
    .addHelpText("after", EXIT_CODE_HELP);

  const wrap: Wrap =
    (handler) =>
    async (...args) => {
      const command = args.at(-1) as Command;
      const settings = settingsFrom(command.optsWithGlobals());
      const ctx = new Context(settings, new Output(io, settings.json), signal, (name) =>
        command.getOptionValueSourceWithGlobals(name),
      );
      try {
        await handler(ctx, command.processedArgs, command.opts());
      } finally {
        await ctx.close();
      }
    };

  registerKeys(program, wrap);
  registerNetwork(program, wrap);
  registerOperator(program, wrap);
  registerPlay(program, wrap);
  registerStatus(program, wrap);
  registerEvents(program, wrap);
  registerOps(program, wrap, io);
  registerDeadLetters(program, wrap);
  registerDemo(program, wrap);
  registerSimulate(program, wrap);
  return program;
}

/**
 * Runs `pot` with the arguments after the program name; resolves with the exit code. Errors are
 * printed as one sentence on stderr ("pot: ..."); see EXIT for the codes.
 */
export async function run(argv: readonly string[], options: { io?: Io; signal?: AbortSignal } = {}): Promise<number> {
  const io = options.io ?? processIo;
  const program = buildProgram(io, options.signal ?? new AbortController().signal);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed the help, the version or the error already.
      return error.code === "commander.helpDisplayed" || error.code === "commander.version" ? EXIT.ok : EXIT.usage;
    }
    const { exitCode, message } = describeError(error);
    io.stderr(`pot: ${message}\n`);
    return exitCode;
  }
}
