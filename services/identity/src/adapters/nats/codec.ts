import {
  AdmissionKind as PbAdmissionKind,
  type Consent as PbConsent,
  type Envelope,
  type MemberAdmitted as PbMemberAdmitted,
} from "@pot/contracts";
import type { AggregateType, EventBody } from "@pot/event-store";
import {
  openingFromWire,
  openingToWire,
  operatorKeysFromWire,
  operatorKeysToWire,
  operatorSignaturesFromWire,
  operatorSignaturesToWire,
  signedMoveFromWire,
  signedMoveToWire,
  toBig,
  toNumber,
} from "@pot/wire";
import {
  evolveMember,
  evolveNetwork,
  initialMemberState,
  initialNetworkState,
  type AdmissionEvidence,
  type AdmissionKind,
  type Consent,
  type MemberEvent,
  type MemberState,
  type ExclusionAct,
  type NetworkEvent,
  type NetworkState,
  type OperatorActRecord,
} from "../../domain/index.js";

/** The act an event records, when it records one (events before operator signatures have none). */
function actFromWire(v: {
  requestId: string;
  operatorSignatures: { publicKey: Uint8Array; signature: Uint8Array }[];
  operatorKeysVersion: number;
}): OperatorActRecord | undefined {
  return v.requestId === "" && v.operatorSignatures.length === 0
    ? undefined
    : {
        requestId: v.requestId,
        signatures: operatorSignaturesFromWire(v.operatorSignatures),
        keysVersion: v.operatorKeysVersion,
      };
}

function actToWire(act: OperatorActRecord | undefined) {
  return {
    requestId: act?.requestId ?? "",
    operatorSignatures: operatorSignaturesToWire(act?.signatures ?? []),
    operatorKeysVersion: act?.keysVersion ?? 0,
  };
}

const KINDS: Record<AdmissionKind, PbAdmissionKind> = {
  genesis: PbAdmissionKind.ADMISSION_KIND_GENESIS,
  sponsored: PbAdmissionKind.ADMISSION_KIND_SPONSORED,
  controlled: PbAdmissionKind.ADMISSION_KIND_CONTROLLED,
};

export function kindToWire(kind: AdmissionKind): PbAdmissionKind {
  return KINDS[kind];
}

export function kindFromWire(kind: PbAdmissionKind): AdmissionKind {
  const found = (Object.entries(KINDS) as [AdmissionKind, PbAdmissionKind][]).find(([, value]) => value === kind);
  if (!found) throw new Error(`unknown admission kind ${kind}`);
  return found[0];
}

export function networkEventFromWire(envelope: Envelope): NetworkEvent | undefined {
  const event = envelope.event;
  const agreementOf = (a: { version: number; hash: Uint8Array; uri: string } | undefined) => ({
    version: a?.version ?? 0,
    hash: a?.hash ?? new Uint8Array(),
    uri: a?.uri ?? "",
  });
  switch (event?.$case) {
    case "networkBootstrapped": {
      const operators = operatorKeysFromWire(event.value.operators);
      const act = actFromWire(event.value);
      return {
        type: "NetworkBootstrapped",
        members: event.value.members.map((m) => ({ publicKey: m.publicKey, displayName: m.displayName })),
        agreement: agreementOf(event.value.agreement),
        forced: event.value.forced,
        networkId: event.value.networkId,
        ...(operators ? { operators } : {}),
        ...(act ? { act } : {}),
      };
    }
    case "agreementPublished": {
      const act = actFromWire(event.value);
      return { type: "AgreementPublished", agreement: agreementOf(event.value.agreement), ...(act ? { act } : {}) };
    }
    case "operatorKeysRotated": {
      const operators = operatorKeysFromWire(event.value.operators);
      if (!operators) throw new Error(`OperatorKeysRotated ${envelope.eventId} names no keys`);
      return {
        type: "OperatorKeysRotated",
        operators,
        requestId: event.value.requestId,
        signatures: operatorSignaturesFromWire(event.value.operatorSignatures),
      };
    }
    default:
      return undefined;
  }
}

export function networkEventToWire(event: NetworkEvent): EventBody {
  switch (event.type) {
    case "NetworkBootstrapped":
      return {
        $case: "networkBootstrapped",
        value: {
          members: event.members.map((m) => ({ ...m })),
          agreement: { ...event.agreement },
          forced: event.forced,
          networkId: event.networkId,
          operators: event.operators ? operatorKeysToWire(event.operators) : undefined,
          ...actToWire(event.act),
        },
      };
    case "AgreementPublished":
      return { $case: "agreementPublished", value: { agreement: { ...event.agreement }, ...actToWire(event.act) } };
    case "OperatorKeysRotated":
      return {
        $case: "operatorKeysRotated",
        value: {
          operators: operatorKeysToWire(event.operators),
          requestId: event.requestId,
          operatorSignatures: operatorSignaturesToWire(event.signatures),
        },
      };
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}

export function consentFromWire(consent: PbConsent | undefined): Consent | undefined {
  return consent && consent.signature.length > 0
    ? {
        candidatePublicKey: consent.candidatePublicKey,
        agreementVersion: consent.agreementVersion,
        agreementHash: consent.agreementHash,
        proposalId: consent.proposalId,
        controllerId: consent.controllerId,
        expiresAtMs: toNumber(consent.expiresAtMs),
        signature: consent.signature,
      }
    : undefined;
}

export function consentToWire(consent: Consent): PbConsent {
  return {
    candidatePublicKey: consent.candidatePublicKey,
    agreementVersion: consent.agreementVersion,
    agreementHash: consent.agreementHash,
    signature: consent.signature,
    proposalId: consent.proposalId,
    controllerId: consent.controllerId,
    expiresAtMs: toBig(consent.expiresAtMs),
  };
}

export function exclusionActFromWire(v: {
  requestId: string;
  operatorSignatures: { publicKey: Uint8Array; signature: Uint8Array }[];
  operatorKeysVersion: number;
  rootMemberId: string;
  rootReason: string;
}): ExclusionAct | undefined {
  const act = actFromWire(v);
  return act ? { ...act, rootMemberId: v.rootMemberId, rootReason: v.rootReason } : undefined;
}

type EvidenceFields = Pick<
  PbMemberAdmitted,
  "opening" | "signedMoveA" | "signedMoveB" | "redeemSignature" | "redeemRequestId"
>;

/** The evidence a MemberAdmitted carries: the game's signatures, the redemption's, or none. */
export function evidenceFromWire(value: EvidenceFields): { evidence?: AdmissionEvidence } {
  if (value.opening) {
    return {
      evidence: {
        type: "game",
        signatures: {
          opening: openingFromWire(value.opening),
          moveA: signedMoveFromWire(value.signedMoveA),
          moveB: signedMoveFromWire(value.signedMoveB),
        },
      },
    };
  }
  if (value.redeemSignature.length > 0) {
    return { evidence: { type: "redeem", signature: value.redeemSignature, requestId: value.redeemRequestId } };
  }
  return {};
}

function evidenceToWire(evidence: AdmissionEvidence | undefined): EvidenceFields {
  const none = { opening: undefined, signedMoveA: undefined, signedMoveB: undefined };
  switch (evidence?.type) {
    case undefined:
      return { ...none, redeemSignature: new Uint8Array(), redeemRequestId: "" };
    case "game":
      return {
        opening: openingToWire(evidence.signatures.opening),
        signedMoveA: signedMoveToWire(evidence.signatures.moveA),
        signedMoveB: signedMoveToWire(evidence.signatures.moveB),
        redeemSignature: new Uint8Array(),
        redeemRequestId: "",
      };
    case "redeem":
      return { ...none, redeemSignature: evidence.signature, redeemRequestId: evidence.requestId };
    default: {
      const unreachable: never = evidence;
      return unreachable;
    }
  }
}

export function memberEventFromWire(envelope: Envelope): MemberEvent | undefined {
  const event = envelope.event;
  switch (event?.$case) {
    case "memberAdmitted": {
      const v = event.value;
      return {
        type: "MemberAdmitted",
        memberId: v.memberId,
        publicKey: v.publicKey,
        kind: kindFromWire(v.kind),
        sponsorIds: v.sponsorIds,
        controllerId: v.controllerId,
        gameId: v.gameId,
        consent: consentFromWire(v.consent),
        displayName: v.displayName,
        admittedAt: toNumber(v.admittedAtMs),
        ...(v.tainted ? { tainted: true } : {}),
        ...evidenceFromWire(v),
      };
    }
    case "creditsGranted":
      return {
        type: "CreditsGranted",
        memberId: event.value.memberId,
        gameId: event.value.gameId,
        count: event.value.count,
        expiresAtMs: toNumber(event.value.expiresAtMs),
        ...(event.value.capped > 0 ? { capped: event.value.capped } : {}),
        ...(event.value.grantedAtMs > 0n ? { grantedAt: toNumber(event.value.grantedAtMs) } : {}),
      };
    case "creditRedeemed": {
      const consent = consentFromWire(event.value.consent);
      if (!consent) throw new Error(`CreditRedeemed ${envelope.eventId} carries no consent`);
      return {
        type: "CreditRedeemed",
        memberId: event.value.memberId,
        admittedMemberId: event.value.admittedMemberId,
        consent,
        redeemedAt: toNumber(event.value.redeemedAtMs),
        ...(event.value.signature.length > 0
          ? { signature: event.value.signature, requestId: event.value.requestId }
          : {}),
      };
    }
    case "memberExcluded": {
      const act = exclusionActFromWire(event.value);
      return {
        type: "MemberExcluded",
        memberId: event.value.memberId,
        reason: event.value.reason,
        sponsorIds: event.value.sponsorIds,
        excludedAt: toNumber(event.value.excludedAtMs),
        ...(act ? { act } : {}),
      };
    }
    default:
      return undefined;
  }
}

export function memberEventToWire(event: MemberEvent): EventBody {
  switch (event.type) {
    case "MemberAdmitted":
      return {
        $case: "memberAdmitted",
        value: {
          memberId: event.memberId,
          publicKey: event.publicKey,
          kind: kindToWire(event.kind),
          sponsorIds: [...event.sponsorIds],
          controllerId: event.controllerId,
          gameId: event.gameId,
          consent: event.consent ? consentToWire(event.consent) : undefined,
          displayName: event.displayName,
          admittedAtMs: toBig(event.admittedAt),
          tainted: event.tainted ?? false,
          ...evidenceToWire(event.evidence),
        },
      };
    case "CreditsGranted":
      return {
        $case: "creditsGranted",
        value: {
          memberId: event.memberId,
          gameId: event.gameId,
          count: event.count,
          expiresAtMs: toBig(event.expiresAtMs),
          capped: event.capped ?? 0,
          grantedAtMs: toBig(event.grantedAt ?? 0),
        },
      };
    case "CreditRedeemed":
      return {
        $case: "creditRedeemed",
        value: {
          memberId: event.memberId,
          admittedMemberId: event.admittedMemberId,
          consent: consentToWire(event.consent),
          redeemedAtMs: toBig(event.redeemedAt),
          signature: event.signature ?? new Uint8Array(),
          requestId: event.requestId ?? "",
        },
      };
    case "MemberExcluded":
      return {
        $case: "memberExcluded",
        value: {
          memberId: event.memberId,
          reason: event.reason,
          sponsorIds: [...event.sponsorIds],
          excludedAtMs: toBig(event.excludedAt),
          ...actToWire(event.act),
          rootMemberId: event.act?.rootMemberId ?? "",
          rootReason: event.act?.rootReason ?? "",
        },
      };
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}

export const networkAggregate: AggregateType<NetworkState, NetworkEvent> = {
  name: "network",
  initial: () => initialNetworkState,
  evolve: evolveNetwork,
  fromWire: networkEventFromWire,
  toWire: networkEventToWire,
};

export const memberAggregate: AggregateType<MemberState, MemberEvent> = {
  name: "member",
  initial: initialMemberState,
  evolve: evolveMember,
  fromWire: memberEventFromWire,
  toWire: memberEventToWire,
};
