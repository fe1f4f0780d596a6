import * as pb from "@pot/contracts";
import {
  ACTION_KIND_PATTERN,
  HASH_BYTES,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  ValidationError,
  type ActionSpec,
  isLegacyGrowth,
  LEGACY_GROWTH_RULES,
  NO_RATE_TARGET,
  type ControlledStaking,
  type GameRules,
  type GrowthRules,
  type MoveName,
  NO_OPENING,
  type OpeningSignatures,
  type Policy,
  type SignedMove,
  type RateTarget,
  sha256,
  type OperatorKeys,
  type OperatorKeysSource,
  type OperatorSignature,
} from "@pot/mechanism";

/** uint64 on the wire -> number in the domain (every value we carry fits in 2^53). */
export function toNumber(value: bigint): number {
  return Number(value);
}

export function toBig(value: number): bigint {
  return BigInt(Math.trunc(value));
}

export const MAX_GENERIC_PAYLOAD_BYTES = 4096;

export function actionFromWire(action: pb.Action | undefined, field = "action"): ActionSpec {
  const body = action?.action;
  if (!body) throw new ValidationError(field, "is required: admission or generic");
  switch (body.$case) {
    case "admission": {
      const consent = body.value.consent;
      if (!consent) throw new ValidationError(`${field}.admission.consent`, "is required");
      const at = `${field}.admission.consent`;
      bytes(`${at}.candidate_public_key`, consent.candidatePublicKey, PUBLIC_KEY_BYTES);
      bytes(`${at}.agreement_hash`, consent.agreementHash, HASH_BYTES);
      bytes(`${at}.signature`, consent.signature, SIGNATURE_BYTES);
      if (consent.agreementVersion < 1) throw new ValidationError(`${at}.agreement_version`, "must be 1 or more");
      consentContext(consent, at);
      return {
        type: "admission",
        candidatePublicKey: consent.candidatePublicKey,
        agreementVersion: consent.agreementVersion,
        agreementHash: consent.agreementHash,
        consentProposalId: consent.proposalId,
        consentControllerId: consent.controllerId,
        consentExpiresAtMs: consentExpiry(consent.expiresAtMs, `${at}.expires_at_ms`),
        consentSignature: consent.signature,
      };
    }
    case "generic": {
      if (!ACTION_KIND_PATTERN.test(body.value.kind)) {
        throw new ValidationError(`${field}.generic.kind`, "must be 1-64 characters of a-z, 0-9, '.', '_' or '-'");
      }
      if (body.value.payload.length > MAX_GENERIC_PAYLOAD_BYTES) {
        throw new ValidationError(`${field}.generic.payload`, `must be at most ${MAX_GENERIC_PAYLOAD_BYTES} bytes`);
      }
      return { type: "generic", kind: body.value.kind, payload: body.value.payload };
    }
    default: {
      const unreachable: never = body;
      return unreachable;
    }
  }
}

export function actionToWire(action: ActionSpec): pb.Action {
  switch (action.type) {
    case "admission":
      return {
        action: {
          $case: "admission",
          value: {
            consent: {
              candidatePublicKey: action.candidatePublicKey,
              agreementVersion: action.agreementVersion,
              agreementHash: action.agreementHash,
              signature: action.consentSignature,
              proposalId: action.consentProposalId,
              controllerId: action.consentControllerId,
              expiresAtMs: toBig(action.consentExpiresAtMs),
            },
          },
        },
      };
    case "generic":
      return { action: { $case: "generic", value: { kind: action.kind, payload: action.payload } } };
    default: {
      const unreachable: never = action;
      return unreachable;
    }
  }
}

/**
 * A consent names one context: a proposal or a controller, never both (the deciders refuse one for
 * another context than theirs with PERMISSION_DENIED); ids are bounded here.
 */
export function consentContext(consent: { proposalId: string; controllerId: string }, field: string): void {
  if (consent.proposalId === "" && consent.controllerId === "") {
    throw new ValidationError(field, "names no context: set proposal_id (for a game) or controller_id (for a credit)");
  }
  if (consent.proposalId !== "" && consent.controllerId !== "") {
    throw new ValidationError(field, "names two contexts: set either proposal_id or controller_id, not both");
  }
  if (consent.proposalId.length > 128)
    throw new ValidationError(`${field}.proposal_id`, "must be at most 128 characters");
  if (consent.controllerId.length > 128) {
    throw new ValidationError(`${field}.controller_id`, "must be at most 128 characters");
  }
}

/** A consent's expiry: required, and a time a number holds exactly. */
export function consentExpiry(value: bigint, field: string): number {
  if (value === 0n) throw new ValidationError(field, "is required: the Unix ms after which the consent is refused");
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ValidationError(field, "is not a time in Unix ms");
  return Number(value);
}

export function rulesFromWire(rules: pb.GameRules | undefined, field: string): GameRules {
  if (!rules) throw new ValidationError(field, "is required");
  return {
    stakePeriodMs: toNumber(rules.stakePeriodMs),
    penaltyPeriodMs: toNumber(rules.penaltyPeriodMs),
    commitWindowMs: toNumber(rules.commitWindowMs),
    revealWindowMs: toNumber(rules.revealWindowMs),
    defectorCredits: rules.defectorCredits,
    suspendBetrayed: rules.suspendBetrayed,
    suspendBothDefectors: rules.suspendBothDefectors,
    noShowPenaltyMs: toNumber(rules.noShowPenaltyMs),
  };
}

export function rulesToWire(rules: GameRules): pb.GameRules {
  return {
    stakePeriodMs: toBig(rules.stakePeriodMs),
    penaltyPeriodMs: toBig(rules.penaltyPeriodMs),
    commitWindowMs: toBig(rules.commitWindowMs),
    revealWindowMs: toBig(rules.revealWindowMs),
    defectorCredits: rules.defectorCredits,
    suspendBetrayed: rules.suspendBetrayed,
    suspendBothDefectors: rules.suspendBothDefectors,
    noShowPenaltyMs: toBig(rules.noShowPenaltyMs),
  };
}

export function policyFromWire(policy: pb.Policy | undefined, field = "policy"): Policy {
  if (!policy) throw new ValidationError(field, "is required");
  return {
    version: policy.version,
    admission: rulesFromWire(policy.admission, `${field}.admission`),
    actionKinds: policy.actionKinds.map((entry, index) => ({
      kind: entry.kind,
      rules: rulesFromWire(entry.rules, `${field}.action_kinds[${index}].rules`),
    })),
    pairCooldownMs: toNumber(policy.pairCooldownMs),
    proposalTtlMs: toNumber(policy.proposalTtlMs),
    creditTtlMs: toNumber(policy.creditTtlMs),
    exclusionSponsorPenaltyMs: toNumber(policy.exclusionSponsorPenaltyMs),
    growth: growthFromWire(policy.growth, `${field}.growth`),
    rateTarget: rateTargetFromWire(policy.rateTarget),
  };
}

/** An absent rate target (a policy published before rate targets existed) decodes to NO_RATE_TARGET: off. */
export function rateTargetFromWire(target: pb.RateTarget | undefined): RateTarget {
  if (!target) return NO_RATE_TARGET;
  return {
    admissionsPerInterval: target.admissionsPerInterval,
    intervalMs: toNumber(target.intervalMs),
    maxStepPercent: target.maxStepPercent,
    minStakePeriodMs: toNumber(target.minStakePeriodMs),
    maxStakePeriodMs: toNumber(target.maxStakePeriodMs),
  };
}

export function rateTargetToWire(target: RateTarget): pb.RateTarget {
  return {
    admissionsPerInterval: target.admissionsPerInterval,
    intervalMs: toBig(target.intervalMs),
    maxStepPercent: target.maxStepPercent,
    minStakePeriodMs: toBig(target.minStakePeriodMs),
    maxStakePeriodMs: toBig(target.maxStakePeriodMs),
  };
}

/** Absent growth rules (a policy published before they existed) decode to LEGACY_GROWTH_RULES. */
export function growthFromWire(growth: pb.GrowthRules | undefined, field = "policy.growth"): GrowthRules {
  if (!growth) return LEGACY_GROWTH_RULES;
  return {
    controlledStaking: controlledStakingFromWire(growth.controlledStaking, `${field}.controlled_staking`),
    maturityPeriodMs: toNumber(growth.maturityPeriodMs),
    sponsorQuota: growth.sponsorQuota,
    sponsorQuotaWindowMs: toNumber(growth.sponsorQuotaWindowMs),
    lineageDistance: growth.lineageDistance,
    creditCap: growth.creditCap,
    creditCapWindowMs: toNumber(growth.creditCapWindowMs),
    pendingProposalCap: growth.pendingProposalCap,
  };
}

export function growthToWire(growth: GrowthRules): pb.GrowthRules {
  return {
    controlledStaking: controlledStakingToWire(growth.controlledStaking),
    maturityPeriodMs: toBig(growth.maturityPeriodMs),
    sponsorQuota: growth.sponsorQuota,
    sponsorQuotaWindowMs: toBig(growth.sponsorQuotaWindowMs),
    lineageDistance: growth.lineageDistance,
    creditCap: growth.creditCap,
    creditCapWindowMs: toBig(growth.creditCapWindowMs),
    pendingProposalCap: growth.pendingProposalCap,
  };
}

export function controlledStakingFromWire(value: pb.ControlledStaking, field: string): ControlledStaking {
  switch (value) {
    case pb.ControlledStaking.CONTROLLED_STAKING_UNSPECIFIED:
      return "legacy";
    case pb.ControlledStaking.CONTROLLED_STAKING_FORBIDDEN:
      return "forbidden";
    case pb.ControlledStaking.CONTROLLED_STAKING_ALLOWED:
      return "allowed";
    default:
      throw new ValidationError(field, `unknown value ${String(value)}`);
  }
}

export function controlledStakingToWire(value: ControlledStaking): pb.ControlledStaking {
  switch (value) {
    case "legacy":
      return pb.ControlledStaking.CONTROLLED_STAKING_UNSPECIFIED;
    case "forbidden":
      return pb.ControlledStaking.CONTROLLED_STAKING_FORBIDDEN;
    case "allowed":
      return pb.ControlledStaking.CONTROLLED_STAKING_ALLOWED;
    default: {
      const unreachable: never = value;
      return unreachable;
    }
  }
}

export function policyToWire(policy: Policy): pb.Policy {
  return {
    version: policy.version,
    admission: rulesToWire(policy.admission),
    actionKinds: policy.actionKinds.map((entry) => ({ kind: entry.kind, rules: rulesToWire(entry.rules) })),
    pairCooldownMs: toBig(policy.pairCooldownMs),
    proposalTtlMs: toBig(policy.proposalTtlMs),
    creditTtlMs: toBig(policy.creditTtlMs),
    exclusionSponsorPenaltyMs: toBig(policy.exclusionSponsorPenaltyMs),
    // A legacy policy stays without growth rules on the wire, so it re-encodes to what was published.
    growth: isLegacyGrowth(policy.growth) ? undefined : growthToWire(policy.growth),
    // Off stays absent on the wire, so a policy without a target re-encodes to what was published.
    rateTarget: policy.rateTarget.admissionsPerInterval === 0 ? undefined : rateTargetToWire(policy.rateTarget),
  };
}

export function moveFromWire(move: pb.Move, field = "move"): MoveName {
  if (move === pb.Move.MOVE_COOPERATE) return "cooperate";
  if (move === pb.Move.MOVE_DEFECT) return "defect";
  throw new ValidationError(field, "must be MOVE_COOPERATE or MOVE_DEFECT");
}

export function moveToWire(move: MoveName | undefined): pb.Move {
  if (move === "cooperate") return pb.Move.MOVE_COOPERATE;
  if (move === "defect") return pb.Move.MOVE_DEFECT;
  return pb.Move.MOVE_UNSPECIFIED;
}

export function bytes(field: string, value: Uint8Array, length: number): Uint8Array {
  if (value.length === 0) throw new ValidationError(field, "is required");
  if (value.length !== length) throw new ValidationError(field, `must be ${length} bytes, got ${value.length}`);
  return value;
}

export interface SponsorWire {
  readonly memberId: string;
  readonly publicKey: Uint8Array;
}

export function sponsorFromWire(sponsor: pb.Sponsor | undefined): SponsorWire {
  return { memberId: sponsor?.memberId ?? "", publicKey: sponsor?.publicKey ?? new Uint8Array() };
}

/**
 * What an operator signs for a policy (docs/api.md, "Operator signatures"): SHA-256 of the policy's
 * protobuf encoding (pot.v1.Policy, fields in number order, defaults omitted) with `version` 0; the
 * version it becomes is a part of its own in the payload.
 */
export function policyDigest(policy: Omit<Policy, "version">): Uint8Array {
  return sha256(pb.Policy.encode(policyToWire({ ...policy, version: 0 })).finish());
}

export function operatorSignaturesFromWire(list: readonly pb.OperatorSignature[]): OperatorSignature[] {
  return list.map((entry) => ({ publicKey: entry.publicKey, signature: entry.signature }));
}

export function operatorSignaturesToWire(list: readonly OperatorSignature[]): pb.OperatorSignature[] {
  return list.map((entry) => ({ publicKey: entry.publicKey, signature: entry.signature }));
}

export function operatorKeysFromWire(keys: pb.OperatorKeys | undefined): OperatorKeys | undefined {
  return keys === undefined || keys.keys.length === 0
    ? undefined
    : { version: keys.version, keys: [...keys.keys], threshold: keys.threshold };
}

export function operatorKeysToWire(keys: OperatorKeys): pb.OperatorKeys {
  return { version: keys.version, keys: [...keys.keys], threshold: keys.threshold };
}

/**
 * The operator keys an identity event names, for a service that adopts them: a genesis
 * NetworkBootstrapped (with the act it re-checks) or an OperatorKeysRotated; undefined otherwise.
 */
export function operatorKeysSourceFromWire(event: pb.Envelope["event"]): OperatorKeysSource | undefined {
  if (event?.$case === "operatorKeysRotated") {
    const operators = operatorKeysFromWire(event.value.operators);
    if (!operators) return undefined;
    return {
      type: "rotation",
      requestId: event.value.requestId,
      operators,
      signatures: operatorSignaturesFromWire(event.value.operatorSignatures),
    };
  }
  if (event?.$case !== "networkBootstrapped") return undefined;
  const bootstrapped = event.value;
  const operators = operatorKeysFromWire(bootstrapped.operators);
  if (!operators) return undefined;
  return {
    type: "genesis",
    operators,
    signatures: operatorSignaturesFromWire(bootstrapped.operatorSignatures),
    act: {
      requestId: bootstrapped.requestId,
      bootstrapsBefore: 0,
      force: bootstrapped.forced,
      members: bootstrapped.members.map((m) => ({ publicKey: m.publicKey, displayName: m.displayName })),
      agreement: { hash: bootstrapped.agreement?.hash ?? new Uint8Array(), uri: bootstrapped.agreement?.uri ?? "" },
      operatorKeys: operators.keys,
      operatorThreshold: operators.threshold,
    },
  };
}
/** The opening signatures an event carries; empty ones (an event recorded before they were carried) when absent. */
export function openingFromWire(opening: pb.OpeningSignatures | undefined): OpeningSignatures {
  return opening
    ? { proposalSignature: opening.proposalSignature, acceptSignature: opening.acceptSignature }
    : NO_OPENING;
}

export function openingToWire(opening: OpeningSignatures): pb.OpeningSignatures {
  return { proposalSignature: opening.proposalSignature, acceptSignature: opening.acceptSignature };
}

/** A signed move as carried; undefined when the event carries none (the sponsor never committed). */
export function signedMoveFromWire(signed: pb.SignedMove | undefined): SignedMove | undefined {
  if (!signed) return undefined;
  return {
    commitment: signed.commitment,
    commitSignature: signed.commitSignature,
    move: signed.move === pb.Move.MOVE_UNSPECIFIED ? undefined : moveFromWire(signed.move, "signed_move.move"),
    nonce: signed.nonce,
    revealSignature: signed.revealSignature,
  };
}

export function signedMoveToWire(signed: SignedMove | undefined): pb.SignedMove | undefined {
  if (!signed) return undefined;
  return {
    commitment: signed.commitment,
    commitSignature: signed.commitSignature,
    move: moveToWire(signed.move),
    nonce: signed.nonce,
    revealSignature: signed.revealSignature,
  };
}
export { admissionForgery, openingEvidenceForgery, resolutionAmountsClaimOf, resolutionEvidence } from "./evidence.js";
