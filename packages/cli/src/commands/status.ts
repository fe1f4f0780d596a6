import { Argument, type Command } from "commander";
import { Game, GetAgreementResponse, Member, Policy, Proposal, Stake } from "@pot/contracts";
import { bytesToHex } from "@pot/mechanism";
import { CliError, EXIT } from "../exit-codes.js";
import {
  gameLines,
  memberLines,
  memberRows,
  messageJson,
  policyLines,
  proposalLines,
  stakeLines,
  stakeRows,
  table,
} from "../format.js";
import { memberId, positiveInteger, uuid } from "../parsers.js";
import type { Wrap } from "../program.js";
import type { Context } from "../context.js";

async function ownId(ctx: Context, given: unknown): Promise<string> {
  return typeof given === "string" ? given : (await ctx.key()).member.id;
}

function missing(what: string): never {
  throw new CliError(EXIT.notFound, `${what} not found`);
}

export function registerStatus(program: Command, wrap: Wrap): void {
  const statusCommand = program
    .command("status")
    .description(
      "trust state: your member and stake (no subcommand), or a member, stake, game, proposal, policy or the agreement",
    )
    .action(
      wrap(async (ctx) => {
        const id = await ownId(ctx, undefined);
        const [member, stake] = await Promise.all([ctx.client.getMember(id), ctx.client.getStake(id)]);
        if (!member.member || !stake.stake) missing(`member ${id}`);
        const now = Date.now();
        ctx.out.result(table([...memberRows(member.member, now), ...stakeRows(stake.stake, now)]), {
          member: messageJson(Member, member.member),
          stake: messageJson(Stake, stake.stake),
        });
      }),
    );

  statusCommand
    .command("agreement")
    .description("the network id and the legal agreement candidates consent to now (version, SHA-256, URI)")
    .action(
      wrap(async (ctx) => {
        const answer = await ctx.client.getAgreement();
        const agreement = answer.agreement;
        ctx.out.result(
          table([
            ["network", answer.networkId],
            ...(answer.bootstrapped && agreement
              ? ([
                  ["agreement", `v${agreement.version}`],
                  ["sha256", bytesToHex(agreement.hash)],
                  ["uri", agreement.uri],
                  [
                    "operator keys",
                    answer.operators
                      ? `version ${answer.operators.version}: ${answer.operators.threshold} of ${answer.operators.keys.length} must sign`
                      : "none recorded",
                  ],
                  ...(answer.operators?.keys ?? []).map((key) => ["", bytesToHex(key)] as const),
                ] as const)
              : ([["agreement", "none: the network has not been bootstrapped"]] as const)),
          ]),
          messageJson(GetAgreementResponse, answer),
        );
      }),
    );

  statusCommand
    .command("member")
    .description("a member: status, how it was admitted (genesis, sponsored, controlled), credits")
    .addArgument(new Argument("[member-id]", "default: the member of your key file").argParser(memberId))
    .action(
      wrap(async (ctx, [given]) => {
        const { member } = await ctx.client.getMember(await ownId(ctx, given));
        if (!member) missing("member");
        ctx.out.result(memberLines(member, Date.now()), messageJson(Member, member));
      }),
    );

  statusCommand
    .command("stake")
    .description("a member's staking slot: locked by a game, suspended, or available")
    .addArgument(new Argument("[member-id]", "default: the member of your key file").argParser(memberId))
    .action(
      wrap(async (ctx, [given]) => {
        const { stake } = await ctx.client.getStake(await ownId(ctx, given));
        if (!stake) missing("stake");
        ctx.out.result(stakeLines(stake, Date.now()), messageJson(Stake, stake));
      }),
    );

  statusCommand
    .command("game")
    .description("a game: phase, who committed and revealed, outcome")
    .addArgument(new Argument("<game-id>", "the game").argParser(uuid))
    .action(
      wrap(async (ctx, [gameId]) => {
        const { game } = await ctx.client.getGame(String(gameId));
        if (!game) missing(`game ${String(gameId)}`);
        ctx.out.result(gameLines(game, Date.now()), messageJson(Game, game));
      }),
    );

  statusCommand
    .command("proposal")
    .description("a proposal: pending, accepted, declined, cancelled or expired")
    .addArgument(new Argument("<proposal-id>", "the proposal").argParser(uuid))
    .action(
      wrap(async (ctx, [proposalId]) => {
        const { proposal } = await ctx.client.getProposal(String(proposalId));
        if (!proposal) missing(`proposal ${String(proposalId)}`);
        ctx.out.result(proposalLines(proposal, Date.now()), messageJson(Proposal, proposal));
      }),
    );

  statusCommand
    .command("policy")
    .description("the policy in force, or one version of it")
    .addArgument(new Argument("[version]", "default: the current one").argParser(positiveInteger))
    .action(
      wrap(async (ctx, [version]) => {
        const answer = await ctx.client.getPolicy(typeof version === "number" ? version : 0);
        const policy = answer.policy;
        if (!policy) missing("policy");
        ctx.out.result(policyLines(policy, answer.admissionStakePeriodMs), messageJson(Policy, policy));
      }),
    );
}
