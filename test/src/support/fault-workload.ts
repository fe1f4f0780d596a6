import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import { newProposalId } from "@pot/client";
import { Outcome, type Action } from "@pot/contracts";
import type { MoveName } from "@pot/mechanism";
import type { Clients } from "./clients.js";
import {
  admissionOf,
  answerRequest,
  commitRequest,
  newMember,
  proposeRequest,
  revealRequest,
  sealMove,
  type Member,
} from "./players.js";

/** What the workload plays: admissions with every pair of moves, and a generic action. */
export type Scenario = { readonly moves: [MoveName, MoveName]; readonly generic: boolean };

const SCENARIOS: readonly Scenario[] = [
  { moves: ["cooperate", "cooperate"], generic: false },
  { moves: ["defect", "cooperate"], generic: false },
  { moves: ["cooperate", "cooperate"], generic: false },
  { moves: ["cooperate", "defect"], generic: false },
  { moves: ["defect", "defect"], generic: false },
  { moves: ["cooperate", "cooperate"], generic: true },
];

/** One game as its players saw it: what the services acknowledged. */
export interface Played {
  readonly a: Member;
  readonly b: Member;
  readonly scenario: Scenario;
  /** The candidate of an admission game. */
  readonly candidate: Member | undefined;
  readonly proposalId: string;
  /** The game id Accept answered with (acknowledged opening). */
  gameId?: string;
  /** The outcome the last reveal answered with (acknowledged resolution). */
  outcome?: Outcome;
  /** Why the game could not be played to its end (a refusal, or no answer within the call budget). */
  failure?: string;
}

export interface WorkloadStats {
  /** Calls answered with a transient error and retried, by gRPC status name. */
  readonly retried: Record<string, number>;
  calls: number;
}

/** Errors a client retries with the same request (exact idempotency makes that safe). */
const TRANSIENT = new Set<number>([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.ABORTED,
  status.INTERNAL,
  status.UNKNOWN,
  status.RESOURCE_EXHAUSTED,
  status.CANCELLED,
]);

/**
 * Plays games between pairs of `members`, `concurrency` at a time, until `stop()` says so, through
 * both replicas of every service; a member plays again once its game was settled and it rested.
 * Each call goes to a random replica and is retried with the same request on the other one after a
 * transient error, for up to `callBudgetMs`, as a client would while services, the broker or the
 * database are killed under it.
 */
export async function playUnderFaults(
  clients: readonly Clients[],
  options: {
    readonly members: readonly Member[];
    readonly concurrency: number;
    readonly genericKind: string;
    readonly callBudgetMs: number;
    readonly onPlayed?: (played: Played) => void;
    /** Asked before each new game: true ends the workload once the games in play are done. */
    readonly stop: () => boolean;
    /** How long members rest after their stake is free (the policy's suspensions and pair cool-down). */
    readonly restMs: number;
  },
): Promise<{ played: Played[]; stats: WorkloadStats }> {
  const stats: WorkloadStats = { retried: {}, calls: 0 };
  const call = async <T>(
    what: string,
    request: (clients: Clients) => Promise<T>,
    alsoRetry: readonly number[] = [],
  ): Promise<T> => {
    const deadline = Date.now() + options.callBudgetMs;
    let replica = Math.floor(Math.random() * clients.length);
    for (let attempt = 1; ; attempt++) {
      stats.calls++;
      try {
        return await request(clients[replica]!);
      } catch (error) {
        const code = (error as { code?: number }).code ?? -1;
        if (!TRANSIENT.has(code) && !alsoRetry.includes(code)) throw error;
        const name = status[code] ?? String(code);
        stats.retried[name] = (stats.retried[name] ?? 0) + 1;
        if (Date.now() > deadline) {
          throw new Error(`${what}: no answer within ${options.callBudgetMs} ms (last: ${(error as Error).message})`, {
            cause: error,
          });
        }
        replica = (replica + 1) % clients.length;
        await sleep(Math.min(1_000, 25 * 2 ** Math.min(attempt, 6)));
      }
    }
  };
  const genericAction = (): Action => ({
    action: { $case: "generic", value: { kind: options.genericKind, payload: new TextEncoder().encode(randomUUID()) } },
  });

  const games: Played[] = [];
  // Members play again once their stake and any suspension ran out (the fault policy's short
  // periods) and the matchmaker settled their last game.
  const free = [...options.members];
  const nextGame = async (): Promise<Played | undefined> => {
    while (free.length < 2 && !options.stop()) await sleep(20);
    if (options.stop()) return undefined;
    const scenario = SCENARIOS[games.length % SCENARIOS.length]!;
    const candidate = scenario.generic ? undefined : newMember();
    const game = { a: free.shift()!, b: free.shift()!, scenario, candidate, proposalId: newProposalId() };
    games.push(game);
    return game;
  };

  /** Members waiting for their settlement and their rest, to be free again. */
  const resting: Promise<void>[] = [];
  const play = async (game: Played): Promise<void> => {
    const { a, b } = game;
    try {
      const proposal = proposeRequest(
        a,
        b,
        game.candidate ? admissionOf(game.candidate, game.proposalId) : genericAction(),
        game.proposalId,
      );
      await call("propose", (c) => c.matchmaker.propose(proposal));
      const accepted = await call("accept", (c) => c.matchmaker.accept(answerRequest("accept", b, game.proposalId)));
      const gameId = accepted.gameId;
      game.gameId = gameId;
      const sealed = [sealMove(game.scenario.moves[0]), sealMove(game.scenario.moves[1])] as const;
      // The adjudicator starts the game from the matchmaker's GameOpened: until then, NOT_FOUND.
      await call("commit", (c) => c.adjudicator.commitMove(commitRequest(a, gameId, sealed[0])), [status.NOT_FOUND]);
      await call("commit", (c) => c.adjudicator.commitMove(commitRequest(b, gameId, sealed[1])));
      await call("reveal", (c) => c.adjudicator.revealMove(revealRequest(a, gameId, sealed[0])));
      const last = await call("reveal", (c) => c.adjudicator.revealMove(revealRequest(b, gameId, sealed[1])));
      if (last.outcome === Outcome.OUTCOME_UNSPECIFIED)
        throw new Error("the last reveal was answered without an outcome");
      game.outcome = last.outcome;
      options.onPlayed?.(game);
      // The members play again once the matchmaker settled the game (in reaction to its resolution:
      // the reveal's token waits for it) and their stake and any suspension ran out; meanwhile the
      // worker plays other members.
      resting.push(
        (async () => {
          try {
            await call("settlement", (c) =>
              c.matchmaker.getStake(
                { memberId: a.id, minSequence: 0n, consistencyToken: last.consistencyToken },
                { deadlineMs: 10_000 },
              ),
            );
          } catch (error) {
            game.failure = `its settlement was not seen: ${(error as Error).message}`;
            return;
          }
          if (!options.stop())
            await sleep(Math.max(0, Number(accepted.stakeLockedUntilMs) - Date.now()) + options.restMs);
          // Back at random places: the next pairs differ from the last ones.
          for (const member of [a, b]) free.splice(Math.floor(Math.random() * (free.length + 1)), 0, member);
        })(),
      );
    } catch (error) {
      // Its members stay out: what they may do next is unknown.
      game.failure = (error as Error).message;
      options.onPlayed?.(game);
    }
  };

  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      for (let game = await nextGame(); game !== undefined; game = await nextGame()) await play(game);
    }),
  );
  await Promise.all(resting);
  return { played: games, stats };
}
