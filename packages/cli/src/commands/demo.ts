import { Option, type Command } from "commander";
import { connect as connectNats, type NatsConnection } from "@nats-io/transport-node";
import { mutualTls, PotClient, SERVICE_NAMES } from "@pot/client";
import type { Context } from "../context.js";
import { runDemo } from "../demo/demo.js";
import { positiveInteger } from "../parsers.js";
import type { Wrap } from "../program.js";

interface Target {
  readonly client: PotClient;
  readonly nc: NatsConnection;
  readonly namespace: string;
  readonly own: boolean;
  close(): Promise<void>;
}

/** The services at the configured addresses when they answer (and --own is not set). */
async function runningSystem(ctx: Context): Promise<Target | undefined> {
  try {
    await ctx.clientAs("operator").waitForReady(1_500);
  } catch {
    return undefined;
  }
  return {
    // The demo bootstraps and publishes policies (operator acts) and plays (member acts).
    client: ctx.clientAs("operator"),
    nc: await ctx.nats(),
    namespace: ctx.settings.namespace,
    own: false,
    close: async () => undefined,
  };
}

/**
 * The three services started here (devenv) on free ports, in a fresh namespace and database on the
 * NATS and Postgres that `npm start` would use; removed afterwards unless `keep`.
 */
async function ownSystem(ctx: Context, keep: boolean, say: (line: string) => void): Promise<Target> {
  const devenv = await import("@pot/devenv");
  const env = { ...process.env };
  if (ctx.optionSource("nats") === "cli") env.NATS_URL = ctx.settings.natsUrl;
  if (ctx.optionSource("database") === "cli") env.DATABASE_URL = ctx.settings.databaseUrl;
  const servers = await devenv.ensureServers({ env, log: (line) => say(`[devenv] ${line}`) });
  const database = await devenv.createTestDatabase(servers.databaseUrl, "pot_demo");
  const pki = ctx.settings.tls.insecure
    ? "insecure"
    : await devenv.ensurePki(ctx.settings.tls.dir, (line) => say(`[devenv] ${line}`));
  // Its genesis names the local operator key (created as `npm start` does, unless --operator-key says otherwise).
  if (ctx.settings.operatorKeyDefault) {
    await devenv.ensureOperatorKey(ctx.settings.operatorKeyFiles[0], (line) => say(`[devenv] ${line}`));
  }
  const operators = await ctx.operators();
  const namespace = devenv.uniqueNamespace("demo");
  const started: Awaited<ReturnType<typeof devenv.startServiceProcess>>[] = [];
  let nc: NatsConnection | undefined;
  const close = async () => {
    await nc?.close();
    await Promise.all(started.map((service) => service.stop()));
    if (!keep) {
      await devenv.deleteNamespace(servers.natsUrl, namespace);
      await database.drop();
    }
    await servers.stop();
  };
  try {
    for (const name of SERVICE_NAMES) {
      started.push(
        await devenv.startServiceProcess({
          name,
          natsUrl: servers.natsUrl,
          databaseUrl: database.url,
          namespace,
          tls: pki,
          env: { LOG_LEVEL: "warn" },
        }),
      );
    }
    nc = await connectNats({ servers: servers.natsUrl });
    const [identity, matchmaker, adjudicator] = started.map((service) => service.grpcAddress) as [
      string,
      string,
      string,
    ];
    say(
      `started identity ${identity}, matchmaker ${matchmaker}, adjudicator ${adjudicator} in namespace '${namespace}', database ${database.name}`,
    );
    const client = PotClient.connect(
      { identity, matchmaker, adjudicator },
      {
        deadlineMs: ctx.settings.timeoutMs,
        operators,
        ...(pki === "insecure" ? {} : { credentials: mutualTls({ ca: pki.ca, ...pki.clients.operator }) }),
      },
    );
    return {
      client,
      nc,
      namespace,
      own: true,
      close: async () => {
        client.close();
        await close();
        if (keep)
          say(`kept namespace '${namespace}' and database ${database.name}: pot events tail --namespace ${namespace}`);
      },
    };
  } catch (error) {
    await close();
    throw error;
  }
}

export function registerDemo(program: Command, wrap: Wrap): void {
  program
    .command("demo")
    .description(
      "bootstrap a small network and play a few dozen games with mixed strategies (always-cooperate, always-defect, tit-for-tat, random), printing what happens",
    )
    .addOption(new Option("--games <n>", "games to play").argParser(positiveInteger).default(36))
    .addOption(new Option("--genesis <n>", "genesis members (at least 2)").argParser(positiveInteger).default(8))
    .addOption(
      new Option("--seed <n>", "seed of the strategies' random choices and pairings")
        .argParser(positiveInteger)
        .default(42),
    )
    .option("--own", "start services of its own (fresh namespace and database) even if services answer")
    .option("--keep", "with services of its own: keep their streams and database afterwards")
    .action(
      wrap(async (ctx, _args, options) => {
        const say = (line: string) => {
          if (!ctx.settings.json) ctx.out.io.stdout(`${line}\n`);
        };
        const attached = options.own === true ? undefined : await runningSystem(ctx);
        if (!attached && options.own !== true) {
          say(
            `no services answer at ${ctx.settings.addresses.identity}, ${ctx.settings.addresses.matchmaker}, ${ctx.settings.addresses.adjudicator}: starting services of the demo's own`,
          );
        }
        if (attached) {
          say(
            `playing on the running services (namespace '${attached.namespace}'): the demo adds members and games to that network and restores its policy afterwards`,
          );
        }
        const target = attached ?? (await ownSystem(ctx, options.keep === true, say));
        try {
          const result = await runDemo({
            client: target.client,
            nc: target.nc,
            namespace: target.namespace,
            games: options.games as number,
            genesis: Math.max(2, options.genesis as number),
            seed: options.seed as number,
            restorePolicy: !target.own,
            say,
            signal: ctx.signal,
          });
          if (ctx.settings.json) ctx.out.jsonLine(result);
        } finally {
          await target.close();
        }
      }),
    );
}
