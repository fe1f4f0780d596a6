import { newProposalId } from "@pot/client";
import { CommitMoveRequest } from "@pot/contracts";
import type { Clients } from "./clients.js";
import type { Arena } from "./full-stack.js";
import { grpcPingRate, type PingResult } from "./limits.js";
import { pool, timedPool } from "./load.js";
import { admissionOf, newPlayer, proposeRequest, type GameScript } from "./players.js";
import { UsageWindow, type UsageReport, type Watched } from "./proc.js";
import { Latencies, ratePerSecond, round, type Percentiles } from "./stats.js";

export interface CommandResult {
  /** The RPC, e.g. "matchmaker Propose". */
  readonly rpc: string;
  /** What one call appends, and what it contends on. */
  readonly note: string;
  /** Ed25519 signatures the service checks per call. */
  readonly signatures: number;
  readonly concurrency: number;
  readonly calls: number;
  readonly failed: number;
  readonly errors: readonly string[];
  /** Each call appends one event: appends per second. */
  readonly appendsPerSecond: number;
  readonly latency: Percentiles;
  /** The gRPC ping rate of the same service, measured just before. */
  readonly ping: PingResult;
  /** appendsPerSecond / ping.rate */
  readonly ratio: number;
  readonly usage: UsageReport;
}

const CONCURRENCY = 64;

/**
 * Appends per second through one command RPC: gRPC -> decide -> publish with the expected last
 * subject sequence -> reply, 64 calls at once, next to the gRPC ping rate of the same process.
 */
export async function commandRates(
  clients: Clients,
  arena: Arena,
  addresses: { matchmaker: string; adjudicator: string },
  options: {
    durationMs: number;
    pingMs: number;
    commitGames: number;
    watched: readonly Watched[];
    log: (line: string) => void;
  },
): Promise<CommandResult[]> {
  const results: CommandResult[] = [];

  // Propose: distinct proposals and candidates from the genesis pairs (a pending proposal locks no stake).
  const proposals = Array.from({ length: Math.ceil((options.durationMs / 1000) * 1_500) }, (_, index) => {
    const a = arena.players[(index * 2) % arena.players.length]!;
    const b = arena.players[(index * 2 + 1) % arena.players.length]!;
    const proposalId = newProposalId();
    return proposeRequest(a, b, admissionOf(newPlayer(), proposalId), proposalId);
  });
  results.push(
    await measure(
      "matchmaker Propose",
      2,
      "One ProposalMade on the matchmaker's single ledger subject (appends pipelined, chained to each other); two signatures checked",
      addresses.matchmaker,
      proposals,
      (request) => clients.matchmaker.propose(request),
      options,
    ),
  );

  // CommitMove: games opened beforehand (untimed, for at most as long as the measurement), both
  // commitments of each, across many game subjects.
  const opened: { script: GameScript; release(): void }[] = [];
  await timedPool(
    Array.from({ length: Math.min(options.commitGames, arena.pairs) }),
    16,
    options.durationMs,
    async () => {
      opened.push(await arena.open());
    },
  );
  const commits: CommitMoveRequest[] = opened.flatMap(({ script }) => [...script.commits]);
  try {
    results.push(
      await measure(
        "adjudicator CommitMove",
        1,
        "One MoveCommitted on the game's own subject (games in parallel); one signature checked",
        addresses.adjudicator,
        commits,
        (request) => clients.adjudicator.commitMove(request),
        {
          ...options,
          durationMs: Number.MAX_SAFE_INTEGER,
        },
      ),
    );
  } finally {
    // Finish the games (untimed) so their sponsors are free again.
    await pool(opened, 16, async ({ script, release }) => {
      for (const commit of script.commits) await clients.adjudicator.commitMove(commit).catch(() => undefined);
      await Promise.all(script.reveals.map((reveal) => clients.adjudicator.revealMove(reveal).catch(() => undefined)));
      release();
    });
  }
  for (const result of results) {
    options.log(
      `  ${result.rpc}: ${result.appendsPerSecond} appends/s = ${result.ratio} x ping (${result.ping.rate}/s)`,
    );
  }
  return results;
}

async function measure<T>(
  rpc: string,
  signatures: number,
  note: string,
  address: string,
  requests: readonly T[],
  call: (request: T) => Promise<unknown>,
  options: { durationMs: number; pingMs: number; watched: readonly Watched[] },
): Promise<CommandResult> {
  const ping = await grpcPingRate(address, rpc.split(" ")[0]!, options.pingMs, CONCURRENCY);
  const latency = new Latencies();
  const usage = new UsageWindow(options.watched);
  const result = await timedPool(requests, CONCURRENCY, options.durationMs, (request) =>
    latency.time(() => call(request)),
  );
  const appendsPerSecond = ratePerSecond(result.completed, result.ms);
  return {
    rpc,
    note,
    signatures,
    concurrency: CONCURRENCY,
    calls: result.completed,
    failed: result.failed,
    errors: result.errors,
    appendsPerSecond,
    latency: latency.summary(),
    ping,
    ratio: ping.rate === 0 ? 0 : round(appendsPerSecond / ping.rate, 3),
    usage: usage.end(),
  };
}
