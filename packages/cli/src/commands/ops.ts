import { Argument, type Command } from "commander";
import cliProgress from "cli-progress";
import { SERVICE_NAMES, StreamNotFoundError, streamNames } from "@pot/client";
import { jetstreamManager } from "@nats-io/jetstream";
// @pot/ops brings the services' read models, pg and kysely: loaded only by the commands that use it.
import type { ReplayResult, ServiceName } from "@pot/ops";
import { CliError, EXIT } from "../exit-codes.js";
import type { Io } from "../output.js";
import type { Wrap } from "../program.js";
import type { Context } from "../context.js";

const count = (n: number) => n.toLocaleString("en-US");

/** A progress bar on stderr when it is a terminal (and not --json); nothing otherwise. */
function progressBar(io: Io, ctx: Context, label: string) {
  if (!io.interactive || ctx.settings.json) return undefined;
  const bar = new cliProgress.SingleBar(
    {
      format: `${label.padEnd(12)} {bar} {percentage}% | {value}/{total} events | {rate} events/s | ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  return bar;
}

async function streamSize(ctx: Context, service: ServiceName): Promise<number> {
  const jsm = await jetstreamManager(await ctx.nats());
  const { stream } = streamNames(ctx.settings.namespace, service);
  try {
    return (await jsm.streams.info(stream)).state.messages;
  } catch (error) {
    throw new StreamNotFoundError(stream, { cause: error });
  }
}

export function registerOps(program: Command, wrap: Wrap, io: Io): void {
  program
    .command("replay")
    .description(
      "drop a service's projections and rebuild them from its stream start (into fresh tables, then swapped in while the service keeps answering); messages that cannot be applied are skipped and listed (exit 10)",
    )
    .addArgument(new Argument("<service>", "which service's projections").choices([...SERVICE_NAMES, "all"]))
    .action(
      wrap(async (ctx, [which]) => {
        const { replay } = await import("@pot/ops");
        const services: readonly ServiceName[] = which === "all" ? SERVICE_NAMES : [which as ServiceName];
        const results: ReplayResult[] = [];
        for (const service of services) {
          const bar = progressBar(io, ctx, service);
          let shown = false;
          const result = await replay({
            natsUrl: ctx.settings.natsUrl,
            natsCredentials: ctx.settings.natsCredentials,
            databaseUrl: ctx.settings.databaseUrl,
            namespace: ctx.settings.namespace,
            service,
            onProgress: (p) => {
              const rate = { rate: count(Math.round(p.eventsPerSecond)) };
              if (!shown) bar?.start(p.total, p.applied, rate);
              shown = true;
              bar?.setTotal(p.total);
              bar?.update(p.applied, rate);
            },
          }).finally(() => bar?.stop());
          results.push(result);
          if (!ctx.settings.json) {
            ctx.out.io.stdout(
              `${service}: ${count(result.events)} events replayed in ${result.seconds.toFixed(1)} s (${count(Math.round(result.eventsPerSecond))} events/s)${result.skipped.length > 0 ? `, ${count(result.skipped.length)} message(s) skipped` : ""}\n`,
            );
            for (const skipped of result.skipped) {
              ctx.out.io.stdout(
                `  skipped ${skipped.stream} seq ${skipped.seq} ${skipped.subject}: ${skipped.reason}\n`,
              );
            }
            for (const table of result.tables) {
              ctx.out.io.stdout(
                `  ${table.table.padEnd(28)} ${count(table.rows).padStart(10)} rows  digest ${table.digest}\n`,
              );
            }
          }
        }
        if (ctx.settings.json) ctx.out.jsonLine(which === "all" ? results : results[0]);
        const skipped = results.reduce((sum, result) => sum + result.skipped.length, 0);
        if (skipped > 0) {
          throw new CliError(
            EXIT.mismatches,
            `the read models were rebuilt and swapped in, but ${skipped} message(s) of the log could not be applied and were skipped: see above`,
          );
        }
      }),
    );

  program
    .command("verify")
    .description(
      "audit: replay the adjudicator's stream and re-check every commitment, signature (for the network id: --network, else asked of identity) and outcome against the policy in force, re-check every operator act's signatures (genesis, bootstraps, policies, agreements, exclusions, key rotations) against the operator keys in force, then cross-check it with the identity and matchmaker streams (forged games, credits, admissions, exclusions, cancellations) and re-verify the member signatures every event that makes another service act carries; exit 10 on any mismatch",
    )
    .action(
      wrap(async (ctx) => {
        const { verify } = await import("@pot/ops");
        const networkId = ctx.settings.networkId ?? (await ctx.client.networkId());
        const bar = progressBar(io, ctx, "verify");
        if (bar) bar.start(await streamSize(ctx, "adjudicator"), 0, { rate: "" });
        const started = performance.now();
        const result = await verify({
          natsUrl: ctx.settings.natsUrl,
          natsCredentials: ctx.settings.natsCredentials,
          namespace: ctx.settings.namespace,
          networkId,
          onProgress: (p) =>
            bar?.update(p.events, { rate: count(Math.round(p.events / ((performance.now() - started) / 1000))) }),
        }).finally(() => bar?.stop());
        ctx.out.result(
          [
            `verified ${count(result.events)} events of ${count(result.games)} games${result.retargets > 0 ? ` and ${count(result.retargets)} stake-period retargets` : ""}, ${count(result.operatorActs ?? 0)} operator act signatures: ${result.mismatches.length === 0 ? "no mismatches" : `${count(result.mismatches.length)} mismatch(es)`}${result.skipped > 0 ? `, ${count(result.skipped)} message(s) skipped (undecodable or uncheckable)` : ""}`,
            ...result.mismatches.map(
              (m) => `  ${m.stream ?? "adjudicator"} seq ${m.seq}${m.gameId ? ` game ${m.gameId}` : ""}: ${m.problem}`,
            ),
          ],
          result,
        );
        if (result.mismatches.length > 0) {
          throw new CliError(EXIT.mismatches, `the log has ${result.mismatches.length} mismatch(es): see above`);
        }
      }),
    );
}
