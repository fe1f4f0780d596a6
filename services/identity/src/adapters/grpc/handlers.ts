import { IdentityServiceService, MemberStatus, type IdentityServiceServer } from "@pot/contracts";
import { NotFoundError, requireMemberId, ValidationError } from "@pot/mechanism";
import type { ProjectionRunner } from "@pot/projections";
import { unary, waitForSequence, type Logger } from "@pot/service-kit";
import { toBig } from "@pot/wire";
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

export function identityHandlers(deps: HandlerDeps): IdentityServiceServer {
  const { identity, logger } = deps;
  return {
    bootstrap: unary("Bootstrap", async (request) => {
      if (!REQUEST_ID.test(request.requestId)) {
        throw new ValidationError("request_id", "must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'");
      }
      if (!request.agreement) throw new ValidationError("agreement", "is required (hash and uri of the legal agreement)");
      const result = await identity.bootstrap({
        requestId: request.requestId,
        members: request.members.map((m) => ({ publicKey: m.publicKey, displayName: m.displayName })),
        agreement: { hash: request.agreement.hash, uri: request.agreement.uri },
        force: request.force,
      });
      return { memberIds: result.memberIds, sequence: toBig(result.sequence) };
    }, { logger }),

    getMember: unary("GetMember", async (request, context) => {
      const memberId = requireMemberId("member_id", request.memberId);
      await waitForSequence(deps.members, request.minSequence, context.deadline);
      const row = await deps.db.selectFrom("members").selectAll().where("member_id", "=", memberId).executeTakeFirst();
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
    }, { logger }),
  };
}

export { IdentityServiceService };
