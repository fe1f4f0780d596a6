import { Option, type Command } from "commander";
import { consentToJson, isStatus, newProposalId, readKeyFile, status, writeSecretFile } from "@pot/client";
import { bytesToHex, networkIdOfNamespace, publicKeyOf } from "@pot/mechanism";
import { BootstrapResponse } from "@pot/contracts";
import { messageJson, table } from "../format.js";
import { collect, duration, hash32, memberId, positiveInteger, uuid } from "../parsers.js";
import type { Wrap } from "../program.js";
import { operatorPublicKey } from "./operator.js";
import { agreementHashOf, retrying, signConsent } from "./shared.js";

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
    .option("--force", "re-seed a network that already has members (signed by a quorum of the current operator keys)")
    .option(
      "--operator <key-file|public-key>",
      "genesis: an operator key to name besides the signing --operator-key files (repeat; 1-16 keys in all)",
      collect,
    )
    .addOption(
      new Option(
        "--operator-threshold <m>",
        "genesis: how many operator keys must sign each act (default: all)",
      ).argParser(positiveInteger),
    )
    .option("--request-id <id>", "idempotency key (default: a fresh UUID); retrying with it is safe")
    .option("--no-wait", "return as soon as identity accepted, without waiting for the matchmaker")
    .action(
      wrap(async (ctx, _args, options) => {
        const hash = await agreementHashOf(options);
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
        const networkId = ctx.settings.networkId ?? networkIdOfNamespace(ctx.settings.namespace);
        const signers = await ctx.operators();
        const named = await Promise.all(((options.operator as string[] | undefined) ?? []).map(operatorPublicKey));
        const operatorKeys = [
          ...signers.map((k) => k.publicKey),
          ...named.filter((key) => !signers.some((k) => bytesToHex(k.publicKey) === bytesToHex(key))),
        ];
        const response = await ctx.clientAs("operator").bootstrap(
          members,
          { hash, uri: String(options.agreementUri) },
          {
            networkId,
            signers,
            operatorKeys,
            ...(typeof options.operatorThreshold === "number" ? { operatorThreshold: options.operatorThreshold } : {}),
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
            `network '${networkId}' bootstrapped with ${response.memberIds.length} genesis members:`,
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
        "as a candidate: sign your consent to the network's legal agreement with your key (--key), valid in this " +
          "network only, for one proposal (--proposal, default a fresh id your sponsors then propose under) or for " +
          "one member redeeming a credit for you (--controller), until it expires",
      )
      .addOption(
        new Option(
          "--proposal <uuid>",
          "the proposal that may admit you (default: a fresh UUIDv7; the proposer has 7 days to propose under it)",
        )
          .argParser(uuid)
          .conflicts("controller"),
      )
      .addOption(
        new Option("--controller <member-id>", "the member that may admit you with an admission credit").argParser(
          memberId,
        ),
      )
      .addOption(
        new Option("--expires-in <duration>", "how long the consent is valid, e.g. 12h or 3d")
          .argParser(duration)
          .default(3 * 86_400_000, "3d"),
      )
      .option("--out <file>", "write the consent to this file (default: print it)"),
  ).action(
    wrap(async (ctx, _args, options) => {
      const context =
        typeof options.controller === "string"
          ? { controllerId: options.controller }
          : { proposalId: typeof options.proposal === "string" ? options.proposal : newProposalId() };
      const signed = await signConsent(ctx, ctx.settings.keyFile, context, options);
      const consent = consentToJson(await ctx.client.networkId(), signed);
      const text = `${JSON.stringify(consent, null, 2)}\n`;
      if (typeof options.out === "string") {
        await writeSecretFile(options.out, text, true);
        ctx.out.result(
          table([
            ["consent", `${options.out} (agreement v${consent.agreementVersion}, network '${consent.networkId}')`],
            ["candidate", consent.candidateId],
            consent.proposalId ? ["proposal", consent.proposalId] : ["controller", consent.controllerId],
            ["expires", consent.expiresAt],
          ]),
          { ...consent, file: options.out },
        );
        ctx.out.hint(
          consent.proposalId
            ? `your sponsor proposes with: pot propose --consent ${options.out} --partner <id>`
            : `your controller admits you with: pot redeem --consent ${options.out}`,
        );
      } else {
        ctx.out.io.stdout(text);
      }
    }),
  );
}
