import {
  AdjudicatorServiceService,
  GamePhase,
  type AdjudicatorServiceServer,
  type Game,
  type GetGameResponse,
} from "@pot/contracts";
import {
  HASH_BYTES,
  NONCE_BYTES,
  NotFoundError,
  SIGNATURE_BYTES,
  requireMemberId,
  requireUuid,
  ValidationError,
} from "@pot/mechanism";
import { unary, waitForSequence, type Logger } from "@pot/service-kit";
import { bytes, moveFromWire, moveToWire, policyFromWire, policyToWire, toBig } from "@pot/wire";
import type { Kysely } from "kysely";
import type { ProjectionRunner } from "@pot/projections";
import type { Adjudicator } from "../../application/adjudicator.js";
import { outcomeToWire } from "../nats/codec.js";
import type { AdjudicatorDatabase, GameRow } from "../../read-models/games/games.table.js";
import type { Move, Outcome } from "../../domain/index.js";

export interface HandlerDeps {
  readonly adjudicator: Adjudicator;
  readonly db: Kysely<AdjudicatorDatabase>;
  readonly games: ProjectionRunner;
  readonly logger: Logger;
}

const PHASES = {
  commit: GamePhase.GAME_PHASE_COMMIT,
  reveal: GamePhase.GAME_PHASE_REVEAL,
  resolved: GamePhase.GAME_PHASE_RESOLVED,
};

export function adjudicatorHandlers(deps: HandlerDeps): AdjudicatorServiceServer {
  const { adjudicator, logger } = deps;
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
        return { sequence: toBig(result.sequence) };
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
        return { sequence: toBig(result.sequence), outcome: outcomeToWire(result.outcome) };
      },
      { logger },
    ),

    getGame: unary(
      "GetGame",
      async (request, context): Promise<GetGameResponse> => {
        const gameId = requireUuid("game_id", request.gameId);
        await waitForSequence(deps.games, request.minSequence, context.deadline);
        const row = await deps.db.selectFrom("games").selectAll().where("game_id", "=", gameId).executeTakeFirst();
        if (!row) throw new NotFoundError(`game ${gameId} does not exist (or has not been projected yet)`);
        return { game: gameFromRow(row) };
      },
      { logger },
    ),

    publishPolicy: unary(
      "PublishPolicy",
      async (request) => {
        if (!request.requestId) throw new ValidationError("request_id", "is required (an idempotency key)");
        const { version: _version, ...policy } = policyFromWire(request.policy);
        const result = await adjudicator.publishPolicy(request.requestId, policy);
        return { version: result.version, sequence: toBig(result.sequence) };
      },
      { logger },
    ),

    getPolicy: unary(
      "GetPolicy",
      async (request) => {
        return { policy: policyToWire(await adjudicator.getPolicy(request.version)) };
      },
      { logger },
    ),
  };
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
    policyVersion: row.policy_version,
    openedAtMs: BigInt(row.opened_at),
    commitDeadlineMs: BigInt(row.commit_deadline),
    revealDeadlineMs: BigInt(row.reveal_deadline ?? 0),
    outcome: outcomeToWire((row.outcome ?? undefined) as Outcome | undefined),
    resolvedAtMs: BigInt(row.resolved_at ?? 0),
  };
}
