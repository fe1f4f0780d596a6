import { MatchmakerServiceService, ProposalStatus, type MatchmakerServiceServer } from "@pot/contracts";
import {
  NotFoundError,
  requireMemberId,
  requireUuid,
  SIGNATURE_BYTES,
  uuidV7Time,
  ValidationError,
} from "@pot/mechanism";
import {
  formatConsistencyToken,
  unary,
  waitForConsistency,
  type ConsistencyWaiter,
  type Logger,
} from "@pot/service-kit";
import { actionFromWire, bytes, toBig } from "@pot/wire";
import type { Kysely } from "kysely";
import type { Matchmaker } from "../../application/matchmaker.js";
import { PROPOSAL_ID_MAX_AGE_MS, PROPOSAL_ID_MAX_SKEW_MS } from "../../domain/index.js";
import type { MatchmakerDatabase } from "../../read-models/database.js";
import { findCooldown, findProposal, findStake } from "../../read-models/ledger/ledger.queries.js";

export interface HandlerDeps {
  readonly matchmaker: Matchmaker;
  readonly db: Kysely<MatchmakerDatabase>;
  /** Read-your-writes: min_sequence and consistency tokens. */
  readonly consistency: ConsistencyWaiter;
  readonly now: () => number;
  readonly logger: Logger;
}

const STATUSES = {
  pending: ProposalStatus.PROPOSAL_STATUS_PENDING,
  accepted: ProposalStatus.PROPOSAL_STATUS_ACCEPTED,
  declined: ProposalStatus.PROPOSAL_STATUS_DECLINED,
  cancelled: ProposalStatus.PROPOSAL_STATUS_CANCELLED,
};

const token = (seq: number) => formatConsistencyToken("matchmaker", seq);

/**
 * A new proposal's id: a UUIDv7 made within the last PROPOSAL_ID_MAX_AGE_MS. Its age is measured
 * against the host's wall clock, not the service's (a test's controlled clock may run years ahead):
 * the ledger forgets retired ids after RETIRED_ID_HORIZON_MS of its own clock, which never runs
 * ahead of the wall clock it was read from, so an id old enough to be forgotten is always refused here.
 */
export function requireFreshProposalId(value: string, wallNow: number): string {
  const id = requireUuid("proposal_id", value);
  const madeAt = uuidV7Time(id);
  if (madeAt === undefined) {
    throw new ValidationError("proposal_id", "must be a UUIDv7 (RFC 9562: its first 48 bits the creation time in ms)");
  }
  if (madeAt < wallNow - PROPOSAL_ID_MAX_AGE_MS) {
    throw new ValidationError(
      "proposal_id",
      `was made at ${new Date(madeAt).toISOString()}, more than ${PROPOSAL_ID_MAX_AGE_MS / 3_600_000} h ago: propose with a new id`,
    );
  }
  if (madeAt > wallNow + PROPOSAL_ID_MAX_SKEW_MS) {
    throw new ValidationError("proposal_id", `was made at ${new Date(madeAt).toISOString()}, in the future`);
  }
  return id;
}

export function matchmakerHandlers(deps: HandlerDeps): MatchmakerServiceServer {
  const { matchmaker, logger } = deps;
  const consistent = (
    request: { minSequence: bigint; consistencyToken: string },
    context: { deadline: Date | undefined },
  ) => waitForConsistency(deps.consistency, request, context.deadline);
  /** The token of what an answer reflects: the read model's position once the answer was read. */
  const answered = () => token(deps.consistency.projection.position());
  const answer =
    (type: "Accept" | "Decline" | "Cancel") =>
    async (request: { proposalId: string; memberId: string; signature: Uint8Array }) =>
      matchmaker.answer({
        type,
        proposalId: requireUuid("proposal_id", request.proposalId),
        memberId: requireMemberId("member_id", request.memberId),
        signature: bytes("signature", request.signature, SIGNATURE_BYTES),
      });
  return {
    propose: unary(
      "Propose",
      async (request) => {
        const result = await matchmaker.propose({
          proposalId: requireFreshProposalId(request.proposalId, Date.now()),
          proposerId: requireMemberId("proposer_id", request.proposerId),
          partnerId: requireMemberId("partner_id", request.partnerId),
          action: actionFromWire(request.action),
          signature: bytes("signature", request.signature, SIGNATURE_BYTES),
        });
        return {
          proposalId: result.proposalId,
          expiresAtMs: toBig(result.expiresAt),
          sequence: toBig(result.sequence),
          consistencyToken: token(result.sequence),
        };
      },
      { logger },
    ),

    accept: unary(
      "Accept",
      async (request) => {
        const result = await answer("Accept")(request);
        return {
          gameId: request.proposalId,
          stakeLockedUntilMs: toBig(result.stakeLockedUntil),
          sequence: toBig(result.sequence),
          consistencyToken: token(result.sequence),
        };
      },
      { logger },
    ),

    decline: unary(
      "Decline",
      async (request) => {
        const { sequence } = await answer("Decline")(request);
        return { sequence: toBig(sequence), consistencyToken: token(sequence) };
      },
      { logger },
    ),

    cancel: unary(
      "Cancel",
      async (request) => {
        const { sequence } = await answer("Cancel")(request);
        return { sequence: toBig(sequence), consistencyToken: token(sequence) };
      },
      { logger },
    ),

    getStake: unary(
      "GetStake",
      async (request, context) => {
        const memberId = requireMemberId("member_id", request.memberId);
        await consistent(request, context);
        const row = await findStake(deps.db, memberId);
        if (!row) throw new NotFoundError(`member ${memberId} is not known to the matchmaker`);
        const now = deps.now();
        const lockedUntil = Number(row.locked_until);
        const suspendedUntil = Number(row.suspended_until);
        return {
          stake: {
            memberId,
            lockedUntilMs: BigInt(row.locked_until),
            suspendedUntilMs: BigInt(row.suspended_until),
            gameId: lockedUntil > now ? (row.lock_game_id ?? "") : "",
            available: !row.excluded && row.open_game_id === null && lockedUntil <= now && suspendedUntil <= now,
            excluded: row.excluded,
          },
          consistencyToken: answered(),
        };
      },
      { logger },
    ),

    getProposal: unary(
      "GetProposal",
      async (request, context) => {
        const proposalId = requireUuid("proposal_id", request.proposalId);
        await consistent(request, context);
        const row = await findProposal(deps.db, proposalId);
        if (!row) throw new NotFoundError(`proposal ${proposalId} does not exist`);
        return {
          proposal: {
            proposalId,
            proposerId: row.proposer_id,
            partnerId: row.partner_id,
            action: undefined,
            status:
              row.status === "pending" && Number(row.expires_at) <= deps.now()
                ? ProposalStatus.PROPOSAL_STATUS_EXPIRED
                : STATUSES[row.status],
            madeAtMs: BigInt(row.made_at),
            expiresAtMs: BigInt(row.expires_at),
          },
          consistencyToken: answered(),
        };
      },
      { logger },
    ),

    getPairCooldown: unary(
      "GetPairCooldown",
      async (request, context) => {
        const memberId = requireMemberId("member_id", request.memberId);
        const partnerId = requireMemberId("partner_id", request.partnerId);
        if (memberId === partnerId) throw new ValidationError("partner_id", "must differ from member_id");
        await consistent(request, context);
        const row = await findCooldown(deps.db, memberId, partnerId);
        const until = Number(row?.until ?? 0);
        return {
          cooldown: {
            memberId,
            partnerId,
            untilMs: BigInt(until),
            gameId: row?.game_id ?? "",
            coolingDown: until > deps.now(),
          },
          consistencyToken: answered(),
        };
      },
      { logger },
    ),
  };
}

export { MatchmakerServiceService };
