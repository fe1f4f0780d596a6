import { Argument, Option, type Command } from "commander";
import { isStatus, newProposalId, sealedOf, status, type Answer } from "@pot/client";
import {
  AcceptResponse,
  CancelResponse,
  CommitMoveResponse,
  DeclineResponse,
  Outcome,
  ProposeResponse,
  RedeemCreditResponse,
  RevealMoveResponse,
} from "@pot/contracts";
import { CliError, EXIT, usageError } from "../exit-codes.js";
import { formatInstant, messageJson, outcomeLabel, table } from "../format.js";
import { duration, hexBytes, memberId, uuid } from "../parsers.js";
import type { Wrap } from "../program.js";
import { agreementOptions } from "./network.js";
import { actionFrom, consentFrom, retrying } from "./shared.js";

const ANSWERS: Record<Answer, { description: string; done: string }> = {
  accept: { description: "as the partner: accept a proposal; both stakes lock and the game opens", done: "accepted" },
  decline: { description: "as the partner: decline a pending proposal", done: "declined" },
  cancel: { description: "as the proposer: withdraw a pending proposal", done: "cancelled" },
};

export function registerPlay(program: Command, wrap: Wrap): void {
  agreementOptions(
    program
      .command("propose")
      .description("propose a game to a partner over an action: admitting a candidate, or a generic action")
      .requiredOption("--partner <member-id>", "the other sponsor", memberId)
      .option(
        "--candidate-key <file>",
        "admission: the candidate's key file (its consent to this proposal is signed now)",
      )
      .option(
        "--consent <file>",
        "admission: a consent the candidate made with `pot consent`; the proposal id is the one it names",
      )
      .addOption(
        new Option(
          "--expires-in <duration>",
          "with --candidate-key: how long the consent is valid (default 3d)",
        ).argParser(duration),
      )
      .option("--kind <kind>", "generic action: its kind, e.g. post.create")
      .option("--payload <text>", "generic action: payload as UTF-8 text")
      .addOption(new Option("--payload-hex <hex>", "generic action: payload as hex").argParser(hexBytes))
      .addOption(
        new Option(
          "--proposal-id <uuid>",
          "choose the id (default: the consent's, else a fresh UUIDv7; the matchmaker takes one made within 7 days); retrying with it is safe",
        ).argParser(uuid),
      ),
  ).action(
    wrap(async (ctx, _args, options) => {
      const { member } = await ctx.key();
      const chosen = typeof options.proposalId === "string" ? options.proposalId : undefined;
      const action = await actionFrom(ctx, options, chosen ?? newProposalId());
      const response = await ctx.client.propose(member, String(options.partner), action, {
        ...(chosen !== undefined ? { proposalId: chosen } : {}),
      });
      ctx.out.result(
        table([
          ["proposal", response.proposalId],
          ["partner", String(options.partner)],
          ["expires", formatInstant(response.expiresAtMs, Date.now())],
        ]),
        messageJson(ProposeResponse, response),
      );
      ctx.out.hint(`the partner accepts with: pot accept ${response.proposalId}`);
    }),
  );

  for (const answer of ["accept", "decline", "cancel"] as const) {
    program
      .command(answer)
      .description(ANSWERS[answer].description)
      .addArgument(new Argument("<proposal-id>", "the proposal (a UUID)").argParser(uuid))
      .action(
        wrap(async (ctx, [proposalId]) => {
          const { member } = await ctx.key();
          const id = String(proposalId);
          if (answer === "accept") {
            const response = await ctx.client.accept(member, id);
            ctx.out.result(
              table([
                ["game", response.gameId],
                ["stakes locked until", formatInstant(response.stakeLockedUntilMs, Date.now())],
              ]),
              messageJson(AcceptResponse, response),
            );
            ctx.out.hint(`both sponsors now commit: pot commit ${response.gameId} --move cooperate|defect`);
          } else {
            const response =
              answer === "decline"
                ? messageJson(DeclineResponse, await ctx.client.decline(member, id))
                : messageJson(CancelResponse, await ctx.client.cancel(member, id));
            ctx.out.result(`proposal ${id} ${ANSWERS[answer].done}`, { proposalId: id, ...(response as object) });
          }
        }),
      );
  }

  program
    .command("commit")
    .description(
      "bind yourself to a move without showing it: a fresh nonce is kept in the moves file (--moves) until `pot reveal`",
    )
    .addArgument(new Argument("<game-id>", "the game (its proposal's id)").argParser(uuid))
    .addOption(new Option("--move <move>", "your move").choices(["cooperate", "defect"]).makeOptionMandatory())
    .action(
      wrap(async (ctx, [gameId], options) => {
        const { member } = await ctx.key();
        const id = String(gameId);
        // Saved before it is sent: a commit that succeeds can always be revealed.
        const sealed = await ctx.moves.seal(id, member.id, options.move as "cooperate" | "defect");
        // The game reaches the adjudicator just after the matchmaker opened it: wait for it.
        const response = await retrying(
          () => ctx.client.commit(member, id, sealed),
          (error) => isStatus(error, status.NOT_FOUND),
          ctx.settings.timeoutMs,
          ctx.signal,
        );
        ctx.out.result(`committed to game ${id}; move and nonce kept in ${ctx.settings.movesFile}`, {
          gameId: id,
          memberId: member.id,
          ...(messageJson(CommitMoveResponse, response) as object),
        });
        ctx.out.hint(`once both have committed: pot reveal ${id}`);
      }),
    );

  program
    .command("reveal")
    .description("show the move you committed to (read from the moves file); the last reveal resolves the game")
    .addArgument(new Argument("<game-id>", "the game").argParser(uuid))
    .action(
      wrap(async (ctx, [gameId]) => {
        const { member } = await ctx.key();
        const id = String(gameId);
        const stored = await ctx.moves.get(id, member.id);
        if (!stored) {
          throw usageError(
            `no move is sealed for game ${id} and member ${member.id.slice(0, 12)}... in ${ctx.settings.movesFile}: commit from this machine first (pot commit)`,
          );
        }
        const response = await ctx.client.reveal(member, id, sealedOf(stored));
        await ctx.moves.markRevealed(id, member.id);
        const resolved = response.outcome !== Outcome.OUTCOME_UNSPECIFIED;
        ctx.out.result(
          resolved
            ? `revealed ${stored.move}; game ${id} resolved: ${outcomeLabel(response.outcome)}`
            : `revealed ${stored.move}; game ${id} resolves when the other sponsor reveals (or the reveal deadline passes)`,
          {
            gameId: id,
            memberId: member.id,
            move: stored.move,
            ...(messageJson(RevealMoveResponse, response) as object),
          },
        );
      }),
    );

  agreementOptions(
    program
      .command("redeem")
      .description("spend one of your admission credits to admit an identity you control (marked controlled)")
      .option("--candidate-key <file>", "the controlled identity's key file (its consent to you is signed now)")
      .option("--consent <file>", "a consent the identity made for you with `pot consent --controller <your id>`")
      .addOption(
        new Option(
          "--expires-in <duration>",
          "with --candidate-key: how long the consent is valid (default 3d)",
        ).argParser(duration),
      )
      .option("--request-id <id>", "idempotency key (default: a fresh UUID); retrying with it is safe"),
  ).action(
    wrap(async (ctx, _args, options) => {
      if ((options.candidateKey === undefined) === (options.consent === undefined)) {
        throw usageError("give the identity to admit as exactly one of --candidate-key <file> or --consent <file>");
      }
      const { member } = await ctx.key();
      const consent = await consentFrom(ctx, options, { controllerId: member.id });
      if (!consent) throw new CliError(EXIT.usage, "no consent");
      const response = await ctx.client.redeemCredit(member, consent, {
        ...(typeof options.requestId === "string" ? { requestId: options.requestId } : {}),
      });
      ctx.out.result(
        table([
          ["admitted", `${response.admittedMemberId} (controlled by you)`],
          ["credits left", String(response.creditsLeft)],
        ]),
        messageJson(RedeemCreditResponse, response),
      );
    }),
  );
}
