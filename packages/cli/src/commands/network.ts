import { Option, type Command } from "commander";
import { consentOf, consentToJson, isStatus, readKeyFile, status, writeSecretFile } from "@pot/client";
import { hexToBytes, publicKeyOf } from "@pot/mechanism";
import { BootstrapResponse } from "@pot/contracts";
import { messageJson, table } from "../format.js";
import { usageError } from "../exit-codes.js";
import { collect, hash32, positiveInteger } from "../parsers.js";
import type { Wrap } from "../program.js";
import { agreementFor, retrying, sha256OfFile } from "./shared.js";

export function agreementOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        "--agreement-version <n>",
        "agreement version the candidate consents to (default: ask the network)",
      ).argParser(positiveInteger),
    )
    .addOption(
      new Option("--agreement-hash <sha256>", "its SHA-256, hex (with --agreement-version)").argParser(hash32),
    );
}

export function registerNetwork(program: Command, wrap: Wrap): void {
  program
    .command("bootstrap")
    .description(
      "operator: start the network from its genesis members and legal agreement, then wait until the matchmaker knows every member",
    )
    .requiredOption(
      "--member <key-file|member-id>",
      "a genesis member: its key file or its id (repeat, at least two)",
      collect,
    )
    .requiredOption("--agreement-uri <uri>", "where the legal agreement document is published")
    .addOption(new Option("--agreement-hash <sha256>", "SHA-256 of the agreement document, hex").argParser(hash32))
    .option("--agreement-file <path>", "the agreement document itself (its SHA-256 is sent)")
    .option("--force", "re-seed a network that already has members")
    .option("--request-id <id>", "idempotency key (default: a fresh UUID); retrying with it is safe")
    .option("--no-wait", "return as soon as identity accepted, without waiting for the matchmaker")
    .action(
      wrap(async (ctx, _args, options) => {
        if ((options.agreementHash === undefined) === (options.agreementFile === undefined)) {
          throw usageError("give the agreement as exactly one of --agreement-hash <sha256> or --agreement-file <path>");
        }
        const hash =
          typeof options.agreementHash === "string"
            ? hexToBytes(options.agreementHash)
            : await sha256OfFile(String(options.agreementFile));
        const members = await Promise.all(
          (options.member as string[]).map(async (value) => {
            if (/^[0-9a-f]{64}$/.test(value)) return { publicKey: publicKeyOf(value) };
            const loaded = await readKeyFile(value);
            return {
              publicKey: loaded.member.keys.publicKey,
              ...(loaded.displayName ? { displayName: loaded.displayName } : {}),
            };
          }),
        );
        const response = await ctx.clientAs("operator").bootstrap(
          members,
          { hash, uri: String(options.agreementUri) },
          {
            force: options.force === true,
            ...(typeof options.requestId === "string" ? { requestId: options.requestId } : {}),
          },
        );
        if (options.wait !== false) {
          for (const memberId of response.memberIds) {
            await retrying(
              () => ctx.client.getStake(memberId),
              (error) => isStatus(error, status.NOT_FOUND),
              ctx.settings.timeoutMs,
              ctx.signal,
            );
          }
        }
        ctx.out.result(
          [
            `network '${ctx.settings.namespace}' bootstrapped with ${response.memberIds.length} genesis members:`,
            ...response.memberIds.map((id) => `  ${id}`),
          ],
          messageJson(BootstrapResponse, response),
        );
      }),
    );

  agreementOptions(
    program
      .command("consent")
      .description(
        "as a candidate: sign your consent to the network's legal agreement with your key (--key), for your sponsors",
      )
      .option("--out <file>", "write the consent to this file (default: print it)"),
  ).action(
    wrap(async (ctx, _args, options) => {
      const { member } = await ctx.key();
      const consent = consentToJson(consentOf(member, await agreementFor(ctx, options)));
      const text = `${JSON.stringify(consent, null, 2)}\n`;
      if (typeof options.out === "string") {
        await writeSecretFile(options.out, text, true);
        ctx.out.result(
          table([
            ["consent", `${options.out} (agreement v${consent.agreementVersion})`],
            ["candidate", consent.candidateId],
          ]),
          { ...consent, file: options.out },
        );
      } else {
        ctx.out.io.stdout(text);
      }
    }),
  );
}
