import type { Command } from "commander";
import { LocalFileError, newMember, writeKeyFile } from "@pot/client";
import { usageError } from "../exit-codes.js";
import { table } from "../format.js";
import type { Wrap } from "../program.js";

export function registerKeys(program: Command, wrap: Wrap): void {
  const keys = program
    .command("keys")
    .description("your member key pair: an Ed25519 key in a local JSON file (--key), readable only by you");

  keys
    .command("generate")
    .description("generate a key pair and store it in the key file (mode 0600); prints the member id")
    .option("--name <name>", "display name kept in the file (used when the key is a genesis member)")
    .option("--force", "replace an existing key file (its key is lost)")
    .action(
      wrap(async (ctx, _args, options) => {
        const member = newMember();
        const displayName = typeof options.name === "string" ? options.name : "";
        try {
          await writeKeyFile(ctx.settings.keyFile, member, { displayName, overwrite: options.force === true });
        } catch (error) {
          if (error instanceof LocalFileError && /already exists/.test(error.message)) {
            throw usageError(`${error.message} (--force replaces it, and its key is lost)`);
          }
          throw error;
        }
        ctx.out.result(
          table([
            ["member", member.id],
            ["key file", `${ctx.settings.keyFile} (mode 0600: keep it secret, back it up)`],
          ]),
          { memberId: member.id, publicKey: member.id, displayName, keyFile: ctx.settings.keyFile },
        );
      }),
    );

  keys
    .command("show")
    .description("print the member id and public key of the key file (never the secret key)")
    .action(
      wrap(async (ctx) => {
        const { member, displayName, path } = await ctx.key();
        ctx.out.result(
          table([
            ["member", member.id],
            ...(displayName ? ([["name", displayName]] as const) : []),
            ["key file", path],
          ]),
          { memberId: member.id, publicKey: member.id, displayName, keyFile: path },
        );
      }),
    );
}
