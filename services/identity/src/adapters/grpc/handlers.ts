import { IdentityServiceService, MemberStatus, type IdentityServiceServer } from "@pot/contracts";
import {
  HASH_BYTES,
  NotFoundError,
  PUBLIC_KEY_BYTES,
  requireMemberId,
  SIGNATURE_BYTES,
  ValidationError,
} from "@pot/mechanism";
import type { ProjectionRunner } from "@pot/projections";
import { unary, waitForSequence, type Logger } from "@pot/service-kit";
import { bytes, toBig } from "@pot/wire";
import type { Kysely } from "kysely";
import type { Identity } from "../../application/identity.js";
import type { IdentityDatabase } from "../../read-models/members/members.table.js";
import { kindToWire } from "../nats/codec.js";

export interface HandlerDeps {
  readonly identity: Identity;
  readonly db: Kysely<IdentityDatabase>;
  readonly members: ProjectionRunner;
  readonly logger: Logger;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function requestId(value: string): string {
  if (!REQUEST_ID.test(value)) {
    throw new ValidationError("request_id", "must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'");
  }
  return value;
}

export function identityHandlers(deps: HandlerDeps): IdentityServiceServer {
  const { identity, logger } = deps;
  return {
    bootstrap: unary(
      "Bootstrap",
      async (request) => {
        requestId(request.requestId);
        if (!request.agreement)
          throw new ValidationError("agreement", "is required (hash and uri of the legal agreement)");
        const result = await identity.bootstrap({
          requestId: request.requestId,
          members: request.members.map((m) => ({ publicKey: m.publicKey, displayName: m.displayName })),
          agreement: { hash: request.agreement.hash, uri: request.agreement.uri },
          force: request.force,
        });
        return { memberIds: result.memberIds, sequence: toBig(result.sequence) };
      },
      { logger },
    ),

    publishAgreement: unary(
      "PublishAgreement",
      async (request) => {
        const result = await identity.publishAgreement({
          requestId: requestId(request.requestId),
          hash: bytes("hash", request.hash, HASH_BYTES),
          uri: request.uri,
        });
        return { version: result.version, sequence: toBig(result.sequence) };
      },
      { logger },
    ),

    redeemCredit: unary(
      "RedeemCredit",
      async (request) => {
        const consent = request.consent;
        if (!consent)
          throw new ValidationError("consent", "is required (the controlled identity's key and signed consent)");
        const result = await identity.redeemCredit({
          requestId: requestId(request.requestId),
          memberId: requireMemberId("member_id", request.memberId),
          consent: {
            candidatePublicKey: bytes("consent.candidate_public_key", consent.candidatePublicKey, PUBLIC_KEY_BYTES),
            agreementVersion: consent.agreementVersion,
            agreementHash: bytes("consent.agreement_hash", consent.agreementHash, HASH_BYTES),
            signature: bytes("consent.signature", consent.signature, SIGNATURE_BYTES),
          },
          signature: bytes("signature", request.signature, SIGNATURE_BYTES),
        });
        return {
          admittedMemberId: result.admittedMemberId,
          creditsLeft: result.creditsLeft,
          sequence: toBig(result.sequence),
        };
      },
      { logger },
    ),

    exclude: unary(
      "Exclude",
      async (request) => {
        const result = await identity.exclude({
          requestId: requestId(request.requestId),
          memberId: requireMemberId("member_id", request.memberId),
          reason: request.reason,
        });
        return { sequence: toBig(result.sequence) };
      },
      { logger },
    ),

    getMember: unary(
      "GetMember",
      async (request, context) => {
        const memberId = requireMemberId("member_id", request.memberId);
        await waitForSequence(deps.members, request.minSequence, context.deadline);
        const row = await deps.db
          .selectFrom("members")
          .selectAll()
          .where("member_id", "=", memberId)
          .executeTakeFirst();
        if (!row) throw new NotFoundError(`member ${memberId} does not exist`);
        return {
          member: {
            memberId: row.member_id,
            publicKey: row.public_key,
            status: row.status === "active" ? MemberStatus.MEMBER_STATUS_ACTIVE : MemberStatus.MEMBER_STATUS_EXCLUDED,
            kind: kindToWire(row.kind),
            sponsorIds: row.sponsor_ids,
            controllerId: row.controller_id ?? "",
            gameId: row.game_id ?? "",
            agreementVersion: row.agreement_version ?? 0,
            displayName: row.display_name,
            admittedAtMs: BigInt(row.admitted_at),
            credits: row.credits,
          },
        };
      },
      { logger },
    ),
  };
}

export { IdentityServiceService };
