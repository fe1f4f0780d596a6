import { Argument, Option, type Command } from "commander";
import { readKeyFile } from "@pot/client";
import {
  ExcludeResponse,
  Policy as PbPolicy,
  PublishAgreementResponse,
  PublishPolicyResponse,
  RotateOperatorKeysResponse,
} from "@pot/contracts";
import { publicKeyOf } from "@pot/mechanism";
import { policyFromWire } from "@pot/wire";
import { messageJson, table } from "../format.js";
import { usageError } from "../exit-codes.js";
import { collect, hash32, memberId, positiveInteger } from "../parsers.js";
import type { Wrap } from "../program.js";
import { agreementHashOf, readJsonFile } from "./shared.js";

/** An operator public key given as 64 hex characters or as a key file (only its public key is used). */
export async function operatorPublicKey(value: string): Promise<Uint8Array> {
  if (/^[0-9a-f]{64}$/.test(value)) return publicKeyOf(value);
  return (await readKeyFile(value)).member.keys.publicKey;
}

/**
 * Operator acts, each signed by the operator key files (--operator-key, repeatable; a quorum of the
 * current operator keys): an exclusion, an agreement, a policy and a rotation of the operator keys.
 */
export function registerOperator(program: Command, wrap: Wrap): void {
  program
    .command("exclude")
    .description("operator: exclude a member for a violation of the agreement (its controlled lineage goes with it)")
    .addArgument(new Argument("<member-id>", "the member to exclude").argParser(memberId))
    .requiredOption("--reason <text>", "why, for the record (1-1024 characters)")
    .option("--request-id <id>", "idempotency key (default: a fresh UUID); retrying with it is safe")
    .action(
      wrap(async (ctx, [member], options) => {
        const response = await ctx.clientAs("operator").exclude(String(member), String(options.reason), {
          ...(typeof options.requestId === "string" ? { requestId: options.requestId } : {}),
        });
        ctx.out.result(
          [`excluded ${String(member)} (identity sequence ${response.sequence})`],
          messageJson(ExcludeResponse, response),
        );
      }),
    );

  program
    .command("publish-agreement")
    .description("operator: publish a new version of the legal agreement candidates consent to")
    .requiredOption("--agreement-uri <uri>", "where the agreement document is published")
    .addOption(new Option("--agreement-hash <sha256>", "SHA-256 of the agreement document, hex").argParser(hash32))
    .option("--agreement-file <path>", "the agreement document itself (its SHA-256 is sent)")
    .option("--request-id <id>", "idempotency key (default: a fresh UUID)")
    .action(
      wrap(async (ctx, _args, options) => {
        const hash = await agreementHashOf(options);
        const response = await ctx
          .clientAs("operator")
          .publishAgreement(
            { hash, uri: String(options.agreementUri) },
            typeof options.requestId === "string" ? { requestId: options.requestId } : {},
          );
        ctx.out.result(
          [`agreement v${response.version} in force (identity sequence ${response.sequence})`],
          messageJson(PublishAgreementResponse, response),
        );
      }),
    );

  program
    .command("publish-policy")
    .description(
      "operator: publish a new policy version from a JSON file (a policy as `pot status policy --json` prints it; its version is ignored)",
    )
    .requiredOption("--file <policy.json>", "the policy")
    .option("--request-id <id>", "idempotency key (default: a fresh UUID)")
    .action(
      wrap(async (ctx, _args, options) => {
        const json = await readJsonFile(String(options.file), "policy");
        let policy;
        try {
          policy = policyFromWire(PbPolicy.fromJSON(json));
        } catch (error) {
          throw usageError(`${String(options.file)} is not a valid policy: ${(error as Error).message}`);
        }
        const response = await ctx
          .clientAs("operator")
          .publishPolicy(policy, typeof options.requestId === "string" ? { requestId: options.requestId } : {});
        ctx.out.result(
          [`policy v${response.version} published (adjudicator sequence ${response.sequence})`],
          messageJson(PublishPolicyResponse, response),
        );
      }),
    );

  program
    .command("rotate-operator-keys")
    .description(
      "operator: replace the operator keys and threshold; signed by a quorum of the CURRENT keys (--operator-key), the new keys sign every later act",
    )
    .requiredOption(
      "--new-key <key-file|public-key>",
      "a new operator key: its key file or its public key, 64 hex (repeat, 1-16)",
      collect,
    )
    .addOption(
      new Option("--threshold <m>", "how many of the new keys must sign each act")
        .argParser(positiveInteger)
        .makeOptionMandatory(),
    )
    .option("--request-id <id>", "idempotency key (default: a fresh UUID)")
    .action(
      wrap(async (ctx, _args, options) => {
        const keys = await Promise.all((options.newKey as string[]).map(operatorPublicKey));
        const response = await ctx.clientAs("operator").rotateOperatorKeys(keys, options.threshold as number, {
          ...(typeof options.requestId === "string" ? { requestId: options.requestId } : {}),
        });
        ctx.out.result(
          table([
            [
              "operator keys",
              `version ${response.version}: ${options.threshold as number} of ${keys.length} must sign`,
            ],
            ["identity sequence", String(response.sequence)],
          ]),
          messageJson(RotateOperatorKeysResponse, response),
        );
      }),
    );
}
