import {
  AdjudicatorServiceService,
  GamePhase,
  Outcome as PbOutcome,
  type AdjudicatorServiceServer,
  type DailyNetworkStats,
  type Game,
  type GetGameResponse,
  type TrustEdge,
} from "@pot/contracts";
import {
  ACTION_KIND_PATTERN,
  HASH_BYTES,
  NONCE_BYTES,
  NotFoundError,
  SIGNATURE_BYTES,
  requireMemberId,
  requireUuid,
  ValidationError,
} from "@pot/mechanism";
import {
  dayRange,
  decodePageToken,
  encodePageToken,
  formatConsistencyToken,
  pageSize,
  unary,
  waitForConsistency,
  type ConsistencyWaiter,
  type Logger,
} from "@pot/service-kit";
import {
  bytes,
  moveFromWire,
  moveToWire,
  operatorSignaturesFromWire,
  policyFromWire,
  policyToWire,
  toBig,
} from "@pot/wire";
import type { Kysely } from "kysely";
import type { Adjudicator } from "../../application/adjudicator.js";
import { outcomeFromWire, outcomeToWire, retargetToWire } from "../nats/codec.js";
import type { AdjudicatorDatabase } from "../../read-models/database.js";
import type { GameRow, GamesTable } from "../../read-models/games/games.table.js";
import { findGame, listGames } from "../../read-models/games/games.queries.js";
import { statsBetween } from "../../read-models/stats/stats.queries.js";
import type { NetworkStatsDailyRow } from "../../read-models/stats/network-stats-daily.table.js";
import { edgeBetween, edgesOf, type SidedEdge } from "../../read-models/trust/trust.queries.js";
import type { Move, Outcome } from "../../domain/index.js";

export interface HandlerDeps {
  readonly adjudicator: Adjudicator;
  readonly db: Kysely<AdjudicatorDatabase>;
  /** Read-your-writes: min_sequence and consistency tokens. */
  readonly consistency: ConsistencyWaiter;
  readonly now: () => number;
  readonly logger: Logger;
  /**
   * Waits (boundedly) until the operator keys identity has recorded so far are adopted, so that an act
   * signed by keys named or rotated just before is checked against them.
   */
  readonly operatorKeysCaughtUp?: () => Promise<void>;
}

const PHASES = {
  commit: GamePhase.GAME_PHASE_COMMIT,
  reveal: GamePhase.GAME_PHASE_REVEAL,
  resolved: GamePhase.GAME_PHASE_RESOLVED,
};

const PHASE_FILTERS: Partial<Record<GamePhase, GamesTable["phase"]>> = {
  [GamePhase.GAME_PHASE_COMMIT]: "commit",
  [GamePhase.GAME_PHASE_REVEAL]: "reveal",
  [GamePhase.GAME_PHASE_RESOLVED]: "resolved",
};

const token = (seq: number) => formatConsistencyToken("adjudicator", seq);

export function adjudicatorHandlers(deps: HandlerDeps): AdjudicatorServiceServer {
  const { adjudicator, logger, db } = deps;
  const consistent = (
    request: { minSequence: bigint; consistencyToken: string },
    context: { deadline: Date | undefined },
  ) => waitForConsistency(deps.consistency, request, context.deadline);
  /** The token of what an answer reflects: the read model's position once the answer was read. */
  const answered = () => token(deps.consistency.projection.position());
  return {
    commitMove: unary(
      "CommitMove",
      async (request) => {
        const result = await adjudicator.commitMove({
          gameId: requireUuid("game_id", request.gameId),
          memberId: requireMemberId("member_id", request.memberId),
          commitment: bytes("commitment", request.commitment, HASH_BYTES),
          signature: bytes("signature", request.signature, SIGNATURE_BYTES),
        });
        return { sequence: toBig(result.sequence), consistencyToken: token(result.sequence) };
      },
      { logger },
    ),

    revealMove: unary(
      "RevealMove",
      async (request) => {
        const result = await adjudicator.revealMove({
          gameId: requireUuid("game_id", request.gameId),
          memberId: requireMemberId("member_id", request.memberId),
          move: moveFromWire(request.move),
          nonce: bytes("nonce", request.nonce, NONCE_BYTES),
          signature: bytes("signature", request.signature, SIGNATURE_BYTES),
        });
        return {
          sequence: toBig(result.sequence),
          outcome: outcomeToWire(result.outcome),
          consistencyToken: token(result.sequence),
        };
      },
      { logger },
    ),

    getGame: unary(
      "GetGame",
      async (request, context): Promise<GetGameResponse> => {
        const gameId = requireUuid("game_id", request.gameId);
        await consistent(request, context);
        const row = await findGame(db, gameId);
        if (!row) throw new NotFoundError(`game ${gameId} does not exist (or has not been projected yet)`);
        return { game: gameFromRow(row), consistencyToken: answered() };
      },
      { logger },
    ),

    publishPolicy: unary(
      "PublishPolicy",
      async (request) => {
        if (!request.requestId) throw new ValidationError("request_id", "is required (an idempotency key)");
        const { version: _version, ...policy } = policyFromWire(request.policy);
        await deps.operatorKeysCaughtUp?.();
        const result = await adjudicator.publishPolicy(
          request.requestId,
          policy,
          operatorSignaturesFromWire(request.operatorSignatures),
        );
        return { version: result.version, sequence: toBig(result.sequence), consistencyToken: token(result.sequence) };
      },
      { logger },
    ),

    getPolicy: unary(
      "GetPolicy",
      async (request) => {
        const answer = await adjudicator.policyInForce(request.version);
        return {
          policy: policyToWire(answer.policy),
          admissionStakePeriodMs: toBig(answer.admissionStakePeriodMs),
          lastRetarget: answer.lastRetarget ? retargetToWire(answer.lastRetarget) : undefined,
        };
      },
      { logger },
    ),

    listGames: unary(
      "ListGames",
      async (request, context) => {
        const limit = pageSize(request.pageSize, { fallback: 50, max: 500 });
        const memberId = request.memberId === "" ? undefined : requireMemberId("member_id", request.memberId);
        const phase = enumFilter("phase", request.phase, PHASE_FILTERS);
        const outcome = request.outcome === PbOutcome.OUTCOME_UNSPECIFIED ? undefined : outcomeFilter(request.outcome);
        const actionKind = request.actionKind === "" ? undefined : request.actionKind;
        if (actionKind !== undefined && actionKind !== "admission" && !ACTION_KIND_PATTERN.test(actionKind)) {
          throw new ValidationError(
            "action_kind",
            "must be 'admission' or 1-64 characters of a-z, 0-9, '.', '_' or '-'",
          );
        }
        const filters = [memberId, phase, outcome, actionKind].map((f) => f ?? "").join("|");
        const [beforeSeq] = decodePageToken(request.pageToken, filters, ["seq"]) ?? [];
        await consistent(request, context);
        const rows = await listGames(db, {
          ...(memberId ? { memberId } : {}),
          ...(phase ? { phase } : {}),
          ...(outcome ? { outcome } : {}),
          ...(actionKind ? { actionKind } : {}),
          ...(beforeSeq !== undefined ? { beforeSeq } : {}),
          limit: limit + 1,
        });
        const page = rows.slice(0, limit);
        const last = page.at(-1);
        return {
          games: page.map(gameFromRow),
          nextPageToken: rows.length > limit && last ? encodePageToken([Number(last.started_seq)], filters) : "",
          consistencyToken: answered(),
        };
      },
      { logger },
    ),

    getTrustEdges: unary(
      "GetTrustEdges",
      async (request, context) => {
        const memberId = requireMemberId("member_id", request.memberId);
        const partnerId = request.partnerId === "" ? undefined : requireMemberId("partner_id", request.partnerId);
        if (partnerId === memberId) throw new ValidationError("partner_id", "must differ from member_id");
        const limit = pageSize(request.pageSize, { fallback: 100, max: 500 });
        const [after = ""] = decodePageToken(request.pageToken, memberId, ["id"]) ?? [];
        await consistent(request, context);
        if (partnerId !== undefined) {
          const edge = await edgeBetween(db, memberId, partnerId);
          return { edges: edge ? [edgeToWire(edge)] : [], nextPageToken: "", consistencyToken: answered() };
        }
        const edges = await edgesOf(db, memberId, after, limit + 1);
        const page = edges.slice(0, limit);
        const last = page.at(-1);
        return {
          edges: page.map(edgeToWire),
          nextPageToken: edges.length > limit && last ? encodePageToken([last.partnerId], memberId) : "",
          consistencyToken: answered(),
        };
      },
      { logger },
    ),

    getNetworkStats: unary(
      "GetNetworkStats",
      async (request, context) => {
        const { from, to } = dayRange(request, deps.now());
        await consistent(request, context);
        const rows = await statsBetween(db, from, to);
        const total = rows.reduce<DailyNetworkStats>((sum, row) => addStats(sum, statsFromRow(row)), emptyStats(""));
        return { days: rows.map(statsFromRow), total: withRate(total), consistencyToken: answered() };
      },
      { logger },
    ),
  };
}

function enumFilter<E extends number, V>(field: string, value: E, known: Partial<Record<E, V>>): V | undefined {
  if (value === 0) return undefined;
  const mapped = known[value];
  if (mapped === undefined) throw new ValidationError(field, `${value} is not a known value`);
  return mapped;
}

function outcomeFilter(outcome: PbOutcome): Outcome {
  try {
    return outcomeFromWire(outcome);
  } catch {
    throw new ValidationError("outcome", `${outcome} is not a known outcome`);
  }
}

function edgeToWire({ memberId, partnerId, row }: SidedEdge): TrustEdge {
  const low = row.member_low === memberId;
  return {
    memberId,
    partnerId,
    games: row.games,
    mutualCooperations: row.mutual_cooperations,
    memberDefections: low ? row.low_defections : row.high_defections,
    partnerDefections: low ? row.high_defections : row.low_defections,
    mutualDefections: row.mutual_defections,
    noShows: row.no_shows,
    cancelled: row.cancelled,
    lastGameId: row.last_game_id,
    lastResolvedAtMs: BigInt(row.last_resolved_at),
  };
}

function emptyStats(day: string): DailyNetworkStats {
  return {
    day,
    gamesStarted: 0,
    gamesResolved: 0,
    bothCooperated: 0,
    aDefected: 0,
    bDefected: 0,
    bothDefected: 0,
    noShow: 0,
    cancelled: 0,
    cooperations: 0,
    defections: 0,
    cooperationRate: 0,
    suspensions: 0,
    admissions: 0,
    grants: 0,
    creditsAwarded: 0,
  };
}

function statsFromRow(row: NetworkStatsDailyRow): DailyNetworkStats {
  return withRate({
    day: row.day,
    gamesStarted: row.games_started,
    gamesResolved: row.games_resolved,
    bothCooperated: row.both_cooperated,
    aDefected: row.a_defected,
    bDefected: row.b_defected,
    bothDefected: row.both_defected,
    noShow: row.no_show,
    cancelled: row.cancelled,
    cooperations: row.cooperations,
    defections: row.defections,
    cooperationRate: 0,
    suspensions: row.suspensions,
    admissions: row.admissions,
    grants: row.grants,
    creditsAwarded: row.credits_awarded,
  });
}

function addStats(sum: DailyNetworkStats, day: DailyNetworkStats): DailyNetworkStats {
  const out = { ...sum };
  for (const key of Object.keys(out) as (keyof DailyNetworkStats)[]) {
    if (key !== "day" && key !== "cooperationRate") out[key] = (sum[key] as number) + (day[key] as number);
  }
  return out;
}

function withRate(stats: DailyNetworkStats): DailyNetworkStats {
  const moves = stats.cooperations + stats.defections;
  return { ...stats, cooperationRate: moves === 0 ? 0 : stats.cooperations / moves };
}

export { AdjudicatorServiceService };

function gameFromRow(row: GameRow): Game {
  const player = (side: "a" | "b") => ({
    memberId: side === "a" ? row.sponsor_a : row.sponsor_b,
    committed: side === "a" ? row.committed_a : row.committed_b,
    revealed: side === "a" ? row.revealed_a : row.revealed_b,
    move: moveToWire(((side === "a" ? row.move_a : row.move_b) ?? undefined) as Move | undefined),
  });
  return {
    gameId: row.game_id,
    phase: PHASES[row.phase],
    sponsorA: player("a"),
    sponsorB: player("b"),
    action: undefined,
    actionKind: row.action_kind,
    actionDigest: row.action_digest,
    candidateId: row.candidate_id ?? "",
    policyVersion: row.policy_version,
    openedAtMs: BigInt(row.opened_at),
    commitDeadlineMs: BigInt(row.commit_deadline),
    revealDeadlineMs: BigInt(row.reveal_deadline ?? 0),
    outcome: outcomeToWire((row.outcome ?? undefined) as Outcome | undefined),
    resolvedAtMs: BigInt(row.resolved_at ?? 0),
  };
}
