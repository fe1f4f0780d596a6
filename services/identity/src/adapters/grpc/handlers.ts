import {
  AdmissionKind,
  IdentityServiceService,
  LineageRelation,
  MemberStatus,
  type DailyAdmissions,
  type IdentityServiceServer,
  type Member,
} from "@pot/contracts";
import {
  HASH_BYTES,
  NotFoundError,
  PUBLIC_KEY_BYTES,
  requireMemberId,
  SIGNATURE_BYTES,
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
import { bytes, consentContext, consentExpiry, operatorKeysToWire, operatorSignaturesFromWire, toBig } from "@pot/wire";
import type { Kysely } from "kysely";
import type { Identity } from "../../application/identity.js";
import { availableCredits, type MemberState } from "../../domain/index.js";
import { admissionsBetween } from "../../read-models/admissions/admissions.queries.js";
import type { CreditGrantRow } from "../../read-models/credits/credit-grants.table.js";
import type { IdentityDatabase } from "../../read-models/database.js";
import { lineage, type LineageLink } from "../../read-models/lineage/lineage.queries.js";
import { findMember, grantsOf, listMembers } from "../../read-models/members/members.queries.js";
import type { MemberRow, MembersTable } from "../../read-models/members/members.table.js";
import { kindToWire } from "../nats/codec.js";

export interface HandlerDeps {
  readonly identity: Identity;
  readonly db: Kysely<IdentityDatabase>;
  /** Read-your-writes: min_sequence and consistency tokens. */
  readonly consistency: ConsistencyWaiter;
  readonly now: () => number;
  readonly logger: Logger;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const DEFAULT_LINEAGE_DEPTH = 3;
const MAX_LINEAGE_DEPTH = 10;

function requestId(value: string): string {
  if (!REQUEST_ID.test(value)) {
    throw new ValidationError("request_id", "must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'");
  }
  return value;
}

const token = (seq: number) => formatConsistencyToken("identity", seq);

const STATUSES: Partial<Record<MemberStatus, MembersTable["status"]>> = {
  [MemberStatus.MEMBER_STATUS_ACTIVE]: "active",
  [MemberStatus.MEMBER_STATUS_EXCLUDED]: "excluded",
};

const KINDS: Partial<Record<AdmissionKind, MembersTable["kind"]>> = {
  [AdmissionKind.ADMISSION_KIND_GENESIS]: "genesis",
  [AdmissionKind.ADMISSION_KIND_SPONSORED]: "sponsored",
  [AdmissionKind.ADMISSION_KIND_CONTROLLED]: "controlled",
};

/** An optional enum filter: undefined when unspecified, ValidationError when unknown. */
function filterOf<E extends number, V>(field: string, value: E, known: Partial<Record<E, V>>): V | undefined {
  if (value === 0) return undefined;
  const mapped = known[value];
  if (mapped === undefined) throw new ValidationError(field, `${value} is not a known value`);
  return mapped;
}

export function identityHandlers(deps: HandlerDeps): IdentityServiceServer {
  const { identity, logger, db } = deps;
  const consistent = (
    request: { minSequence: bigint; consistencyToken: string },
    context: { deadline: Date | undefined },
  ) => waitForConsistency(deps.consistency, request, context.deadline);
  /** The token of what an answer reflects: the read model's position once the answer was read. */
  const answered = () => token(deps.consistency.projection.position());

  /** Members as the API shows them, with their credits as of now. */
  const membersOf = async (rows: readonly MemberRow[]): Promise<Member[]> => {
    const grants = await grantsOf(
      db,
      rows.map((row) => row.member_id),
    );
    const now = deps.now();
    return rows.map((row) => memberFromRow(row, grants.get(row.member_id) ?? [], now));
  };

  return {
    bootstrap: unary(
      "Bootstrap",
      async (request) => {
        requestId(request.requestId);
        if (!request.agreement)
          throw new ValidationError("agreement", "is required (hash and uri of the legal agreement)");
        const result = await identity.bootstrap({
          requestId: request.requestId,
          networkId: request.networkId,
          members: request.members.map((m) => ({ publicKey: m.publicKey, displayName: m.displayName })),
          agreement: { hash: request.agreement.hash, uri: request.agreement.uri },
          force: request.force,
          operatorKeys: request.operatorKeys,
          operatorThreshold: request.operatorThreshold,
          signatures: operatorSignaturesFromWire(request.operatorSignatures),
        });
        return {
          memberIds: result.memberIds,
          sequence: toBig(result.sequence),
          consistencyToken: token(result.sequence),
        };
      },
      { logger },
    ),

    getAgreement: unary(
      "GetAgreement",
      async () => {
        const { networkId, bootstrapped, agreement, operators, bootstraps } = await identity.agreement();
        return {
          networkId,
          bootstrapped,
          agreement: agreement ? { ...agreement } : undefined,
          operators: operators ? operatorKeysToWire(operators) : undefined,
          bootstraps,
        };
      },
      { logger },
    ),

    rotateOperatorKeys: unary(
      "RotateOperatorKeys",
      async (request) => {
        const result = await identity.rotateOperatorKeys({
          requestId: requestId(request.requestId),
          keys: request.keys,
          threshold: request.threshold,
          signatures: operatorSignaturesFromWire(request.operatorSignatures),
        });
        return { version: result.version, sequence: toBig(result.sequence), consistencyToken: token(result.sequence) };
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
          signatures: operatorSignaturesFromWire(request.operatorSignatures),
        });
        return { version: result.version, sequence: toBig(result.sequence), consistencyToken: token(result.sequence) };
      },
      { logger },
    ),

    redeemCredit: unary(
      "RedeemCredit",
      async (request) => {
        const consent = request.consent;
        if (!consent)
          throw new ValidationError("consent", "is required (the controlled identity's key and signed consent)");
        consentContext(consent, "consent");
        const result = await identity.redeemCredit({
          requestId: requestId(request.requestId),
          memberId: requireMemberId("member_id", request.memberId),
          consent: {
            candidatePublicKey: bytes("consent.candidate_public_key", consent.candidatePublicKey, PUBLIC_KEY_BYTES),
            agreementVersion: consent.agreementVersion,
            agreementHash: bytes("consent.agreement_hash", consent.agreementHash, HASH_BYTES),
            signature: bytes("consent.signature", consent.signature, SIGNATURE_BYTES),
            proposalId: consent.proposalId,
            controllerId: consent.controllerId,
            expiresAtMs: consentExpiry(consent.expiresAtMs, "consent.expires_at_ms"),
          },
          signature: bytes("signature", request.signature, SIGNATURE_BYTES),
        });
        return {
          admittedMemberId: result.admittedMemberId,
          creditsLeft: result.creditsLeft,
          sequence: toBig(result.sequence),
          consistencyToken: token(result.sequence),
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
          signatures: operatorSignaturesFromWire(request.operatorSignatures),
        });
        return { sequence: toBig(result.sequence), consistencyToken: token(result.sequence) };
      },
      { logger },
    ),

    getMember: unary(
      "GetMember",
      async (request, context) => {
        const memberId = requireMemberId("member_id", request.memberId);
        await consistent(request, context);
        const row = await findMember(db, memberId);
        if (!row) throw new NotFoundError(`member ${memberId} does not exist`);
        const [member] = await membersOf([row]);
        return { member, consistencyToken: answered() };
      },
      { logger },
    ),

    listMembers: unary(
      "ListMembers",
      async (request, context) => {
        const limit = pageSize(request.pageSize, { fallback: 50, max: 500 });
        const status = filterOf("status", request.status, STATUSES);
        const kind = filterOf("kind", request.kind, KINDS);
        const filters = `${status ?? ""}|${kind ?? ""}`;
        const [afterSeq = 0] = decodePageToken(request.pageToken, filters, ["seq"]) ?? [];
        await consistent(request, context);
        const rows = await listMembers(db, {
          ...(status ? { status } : {}),
          ...(kind ? { kind } : {}),
          afterSeq,
          limit: limit + 1,
        });
        const page = rows.slice(0, limit);
        const last = page.at(-1);
        return {
          members: await membersOf(page),
          nextPageToken: rows.length > limit && last ? encodePageToken([Number(last.admitted_seq)], filters) : "",
          consistencyToken: answered(),
        };
      },
      { logger },
    ),

    getLineage: unary(
      "GetLineage",
      async (request, context) => {
        const memberId = requireMemberId("member_id", request.memberId);
        const depth = request.depth === 0 ? DEFAULT_LINEAGE_DEPTH : request.depth;
        if (depth > MAX_LINEAGE_DEPTH) throw new ValidationError("depth", `must be at most ${MAX_LINEAGE_DEPTH}`);
        await consistent(request, context);
        if (!(await findMember(db, memberId))) throw new NotFoundError(`member ${memberId} does not exist`);
        const [ancestors, descendants] = await Promise.all([
          lineage(db, memberId, "ancestors", depth),
          lineage(db, memberId, "descendants", depth),
        ]);
        return {
          ancestors: ancestors.links.map(edgeToWire),
          descendants: descendants.links.map(edgeToWire),
          truncated: ancestors.truncated || descendants.truncated,
          consistencyToken: answered(),
        };
      },
      { logger },
    ),

    getAdmissionStats: unary(
      "GetAdmissionStats",
      async (request, context) => {
        const { from, to } = dayRange(request, deps.now());
        await consistent(request, context);
        const days = new Map<string, DailyAdmissions>();
        const total: DailyAdmissions = { day: "", genesis: 0, sponsored: 0, controlled: 0 };
        for (const { day, kind, admitted } of await admissionsBetween(db, from, to)) {
          const entry = days.get(day) ?? { day, genesis: 0, sponsored: 0, controlled: 0 };
          entry[kind] += admitted;
          total[kind] += admitted;
          days.set(day, entry);
        }
        return { days: [...days.values()], total, consistencyToken: answered() };
      },
      { logger },
    ),
  };
}

function memberFromRow(row: MemberRow, grants: readonly CreditGrantRow[], now: number): Member {
  const state: MemberState = {
    status: row.status,
    memberId: row.member_id,
    publicKey: row.public_key,
    kind: row.kind,
    sponsorIds: row.sponsor_ids,
    controllerId: row.controller_id ?? "",
    gameId: row.game_id ?? "",
    displayName: row.display_name,
    admittedAt: Number(row.admitted_at),
    consent: undefined,
    grants: grants.map((g) => ({ gameId: g.game_id, count: g.count, expiresAtMs: Number(g.expires_at), grantedAt: 0 })),
    redeemed: row.credits_redeemed,
  };
  return {
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
    credits: availableCredits(state, now),
    excludedAtMs: BigInt(row.excluded_at ?? 0),
    exclusionReason: row.exclusion_reason ?? "",
    creditsRedeemed: row.credits_redeemed,
    tainted: row.tainted,
  };
}

function edgeToWire(link: LineageLink) {
  return {
    parentId: link.parent_id,
    childId: link.child_id,
    relation:
      link.relation === "sponsor"
        ? LineageRelation.LINEAGE_RELATION_SPONSOR
        : LineageRelation.LINEAGE_RELATION_CONTROLLER,
    depth: link.depth,
  };
}

export { IdentityServiceService };
