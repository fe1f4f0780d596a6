import { AdmissionKind, type Envelope, type SponsorRegistered } from "@pot/contracts";
import type { AggregateType, EventBody } from "@pot/event-store";
import {
  actionFromWire,
  actionToWire,
  operatorKeysFromWire,
  operatorKeysToWire,
  openingFromWire,
  openingToWire,
  policyFromWire,
  policyToWire,
  sponsorFromWire,
  toBig,
  toNumber,
} from "@pot/wire";
import {
  evolveLedger,
  initialLedgerState,
  type LedgerEvent,
  type LedgerState,
  type MemberKind,
  type SponsorAdmission,
} from "../../domain/index.js";

/** AdmissionKind on the wire -> the ledger's member kind; unspecified (an old event) -> undefined. */
export function memberKindFromWire(kind: AdmissionKind): MemberKind | undefined {
  switch (kind) {
    case AdmissionKind.ADMISSION_KIND_GENESIS:
      return "genesis";
    case AdmissionKind.ADMISSION_KIND_SPONSORED:
      return "sponsored";
    case AdmissionKind.ADMISSION_KIND_CONTROLLED:
      return "controlled";
    default:
      return undefined;
  }
}

function memberKindToWire(kind: MemberKind): AdmissionKind {
  switch (kind) {
    case "genesis":
      return AdmissionKind.ADMISSION_KIND_GENESIS;
    case "sponsored":
      return AdmissionKind.ADMISSION_KIND_SPONSORED;
    case "controlled":
      return AdmissionKind.ADMISSION_KIND_CONTROLLED;
    default: {
      const unreachable: never = kind;
      return unreachable;
    }
  }
}

/** The admission record of a registration; undefined for one recorded before growth rules existed. */
export function admissionFromWire(value: {
  kind: AdmissionKind;
  sponsorIds: string[];
  controllerId: string;
  admittedAtMs: bigint;
}): SponsorAdmission | undefined {
  const kind = memberKindFromWire(value.kind);
  if (!kind) return undefined;
  return {
    kind,
    sponsorIds: value.sponsorIds,
    controllerId: value.controllerId,
    admittedAt: toNumber(value.admittedAtMs),
  };
}

function registrationToWire(event: Extract<LedgerEvent, { type: "SponsorRegistered" }>): SponsorRegistered {
  const admission = event.admission;
  return {
    memberId: event.memberId,
    publicKey: event.publicKey,
    kind: admission ? memberKindToWire(admission.kind) : AdmissionKind.ADMISSION_KIND_UNSPECIFIED,
    sponsorIds: admission ? [...admission.sponsorIds] : [],
    controllerId: admission?.controllerId ?? "",
    admittedAtMs: toBig(admission?.admittedAt ?? 0),
  };
}

const suspensionsToWire = (list: readonly { memberId: string; untilMs: number }[]) =>
  list.map((s) => ({ memberId: s.memberId, untilMs: toBig(s.untilMs) }));
const suspensionsFromWire = (list: readonly { memberId: string; untilMs: bigint }[]) =>
  list.map((s) => ({ memberId: s.memberId, untilMs: toNumber(s.untilMs) }));

export function ledgerEventFromWire(envelope: Envelope): LedgerEvent | undefined {
  const event = envelope.event;
  switch (event?.$case) {
    case "sponsorRegistered": {
      const admission = admissionFromWire(event.value);
      return {
        type: "SponsorRegistered",
        memberId: event.value.memberId,
        publicKey: event.value.publicKey,
        ...(admission ? { admission } : {}),
      };
    }
    case "sponsorExcluded":
      return {
        type: "SponsorExcluded",
        memberId: event.value.memberId,
        accountableSponsorIds: event.value.accountableSponsorIds,
        cancelledProposalIds: event.value.cancelledProposalIds,
        suspensions: suspensionsFromWire(event.value.suspensions),
      };
    case "policyAdopted":
      return { type: "PolicyAdopted", policy: policyFromWire(event.value.policy) };
    case "stakePeriodAdopted":
      return {
        type: "StakePeriodAdopted",
        policyVersion: event.value.policyVersion,
        interval: toNumber(event.value.interval),
        stakePeriodMs: toNumber(event.value.stakePeriodMs),
      };
    case "operatorKeysRecorded": {
      const operators = operatorKeysFromWire(event.value.operators);
      if (!operators) throw new Error(`OperatorKeysRecorded ${envelope.eventId} names no keys`);
      return { type: "OperatorKeysRecorded", operators, sourceEventId: event.value.sourceEventId };
    }
    case "agreementAdopted":
      return {
        type: "AgreementAdopted",
        agreement: {
          version: event.value.agreement?.version ?? 0,
          hash: event.value.agreement?.hash ?? new Uint8Array(),
          uri: event.value.agreement?.uri ?? "",
        },
      };
    case "proposalMade": {
      const v = event.value;
      return {
        type: "ProposalMade",
        proposalId: v.proposalId,
        proposerId: v.proposerId,
        partnerId: v.partnerId,
        action: actionFromWire(v.action),
        madeAt: toNumber(v.madeAtMs),
        expiresAt: toNumber(v.expiresAtMs),
        signature: v.signature,
      };
    }
    case "proposalDeclined":
      return { type: "ProposalDeclined", proposalId: event.value.proposalId, memberId: event.value.memberId };
    case "proposalCancelled":
      return {
        type: "ProposalCancelled",
        proposalId: event.value.proposalId,
        memberId: event.value.memberId,
        reason: event.value.reason,
      };
    case "gameOpened": {
      const v = event.value;
      return {
        type: "GameOpened",
        gameId: v.gameId,
        sponsorA: sponsorFromWire(v.sponsorA),
        sponsorB: sponsorFromWire(v.sponsorB),
        action: actionFromWire(v.action),
        policyVersion: v.policyVersion,
        openedAt: toNumber(v.openedAtMs),
        stakeLockedUntil: toNumber(v.stakeLockedUntilMs),
        pairCooldownUntil: toNumber(v.pairCooldownUntilMs),
        opening: openingFromWire(v.opening),
      };
    }
    case "stakesSettled":
      return {
        type: "StakesSettled",
        gameId: event.value.gameId,
        suspensions: suspensionsFromWire(event.value.suspensions),
        released: event.value.released,
      };
    default:
      return undefined;
  }
}

export function ledgerEventToWire(event: LedgerEvent): EventBody {
  switch (event.type) {
    case "SponsorRegistered":
      return { $case: "sponsorRegistered", value: registrationToWire(event) };
    case "SponsorExcluded":
      return {
        $case: "sponsorExcluded",
        value: {
          memberId: event.memberId,
          accountableSponsorIds: [...event.accountableSponsorIds],
          cancelledProposalIds: [...event.cancelledProposalIds],
          suspensions: suspensionsToWire(event.suspensions),
        },
      };
    case "PolicyAdopted":
      return { $case: "policyAdopted", value: { policy: policyToWire(event.policy) } };
    case "StakePeriodAdopted":
      return {
        $case: "stakePeriodAdopted",
        value: {
          policyVersion: event.policyVersion,
          interval: toBig(event.interval),
          stakePeriodMs: toBig(event.stakePeriodMs),
        },
      };
    case "AgreementAdopted":
      return { $case: "agreementAdopted", value: { agreement: { ...event.agreement } } };
    case "OperatorKeysRecorded":
      return {
        $case: "operatorKeysRecorded",
        value: { operators: operatorKeysToWire(event.operators), sourceEventId: event.sourceEventId },
      };
    case "ProposalMade":
      return {
        $case: "proposalMade",
        value: {
          proposalId: event.proposalId,
          proposerId: event.proposerId,
          partnerId: event.partnerId,
          action: actionToWire(event.action),
          madeAtMs: toBig(event.madeAt),
          expiresAtMs: toBig(event.expiresAt),
          signature: event.signature,
        },
      };
    case "ProposalDeclined":
      return { $case: "proposalDeclined", value: { proposalId: event.proposalId, memberId: event.memberId } };
    case "ProposalCancelled":
      return {
        $case: "proposalCancelled",
        value: { proposalId: event.proposalId, memberId: event.memberId, reason: event.reason },
      };
    case "GameOpened":
      return {
        $case: "gameOpened",
        value: {
          gameId: event.gameId,
          sponsorA: event.sponsorA,
          sponsorB: event.sponsorB,
          action: actionToWire(event.action),
          policyVersion: event.policyVersion,
          openedAtMs: toBig(event.openedAt),
          stakeLockedUntilMs: toBig(event.stakeLockedUntil),
          pairCooldownUntilMs: toBig(event.pairCooldownUntil),
          opening: openingToWire(event.opening),
        },
      };
    case "StakesSettled":
      return {
        $case: "stakesSettled",
        value: { gameId: event.gameId, suspensions: suspensionsToWire(event.suspensions), released: event.released },
      };
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}

export const ledgerAggregate: AggregateType<LedgerState, LedgerEvent> = {
  name: "ledger",
  initial: () => initialLedgerState,
  evolve: evolveLedger,
  fromWire: ledgerEventFromWire,
  toWire: ledgerEventToWire,
};
