import {
  consentPayload,
  type ConsentTerms,
  AlreadyExistsError,
  IllegalStateError,
  isValidPublicKey,
  NotFoundError,
  memberIdOf,
  operatorExcludePayload,
  PermissionError,
  redeemPayload,
  requireOperatorQuorum,
  validateOperatorSignatures,
  type OperatorKeys,
  type OperatorSignature,
  ValidationError,
  verify,
  sameBytes,
  type GameSignatures,
} from "@pot/mechanism";

import type { OperatorActRecord } from "./network.js";

export type AdmissionKind = "genesis" | "sponsored" | "controlled";

/**
 * The operator act an exclusion rests on: the Exclude of `rootMemberId` for `rootReason`, signed by a
 * quorum of operator keys (version `keysVersion`). An exclusion of a controlled lineage repeats its root's.
 */
export interface ExclusionAct extends OperatorActRecord {
  readonly rootMemberId: string;
  readonly rootReason: string;
}

/** Who excludes: the operators (a signed Exclude), or the exclusion of the member's controller. */
export type ExcludeAuthority =
  | {
      readonly kind: "operator";
      readonly networkId: string;
      readonly requestId: string;
      readonly signatures: readonly OperatorSignature[];
      /** The operator keys in force, from the network aggregate. */
      readonly operators: OperatorKeys | undefined;
    }
  | { readonly kind: "lineage"; readonly cause: ExclusionAct | undefined };

/** A candidate's signed consent (see ConsentTerms: network, agreement, context and expiry). */
export interface Consent extends ConsentTerms {
  readonly signature: Uint8Array;
}

export interface CreditGrant {
  readonly gameId: string;
  readonly count: number;
  readonly expiresAtMs: number;
  /** When the game resolved; 0 for a grant recorded before credit caps existed. */
  readonly grantedAt: number;
}

/** The policy's credit cap as the game's award carries it: at most `count` credits per `windowMs`. */
export interface CreditCap {
  readonly count: number;
  readonly windowMs: number;
}

export type MemberState =
  | { readonly status: "none"; readonly memberId: string }
  | {
      readonly status: "active" | "excluded";
      readonly memberId: string;
      readonly publicKey: Uint8Array;
      readonly kind: AdmissionKind;
      readonly sponsorIds: readonly string[];
      readonly controllerId: string;
      readonly gameId: string;
      readonly displayName: string;
      readonly admittedAt: number;
      readonly consent: Consent | undefined;
      readonly grants: readonly CreditGrant[];
      readonly redeemed: number;
      readonly tainted?: boolean;
      /**
       * The identities its credits admitted (CreditRedeemed), oldest first: its controlled lineage.
       * Folded from the member's own events; absent in a state built without them (a read-model row).
       */
      readonly controlledIds?: readonly string[];
    };

/**
 * What justifies an admission, carried in MemberAdmitted for the matchmaker to re-check before it
 * registers the member: the signatures of the game that admitted a sponsored member, or the
 * controller's signed redemption of a controlled one (with the consent, which the admission carries).
 * Absent for a genesis member (the operator's bootstrap admits it) and in events recorded before.
 */
export type AdmissionEvidence =
  | { readonly type: "game"; readonly signatures: GameSignatures }
  | { readonly type: "redeem"; readonly signature: Uint8Array; readonly requestId: string };

export interface Admission {
  readonly memberId: string;
  readonly publicKey: Uint8Array;
  readonly kind: AdmissionKind;
  readonly sponsorIds: readonly string[];
  readonly controllerId: string;
  readonly gameId: string;
  readonly consent: Consent | undefined;
  readonly displayName: string;
  readonly admittedAt: number;
  /**
   * A sponsored member one of whose sponsors was controlled or itself tainted (taintedBy): never shown
   * as plainly sponsored. Absent (false) otherwise, and in events recorded before it existed.
   */
  readonly tainted?: boolean;
  /** Carried by the event, never kept in the state. */
  readonly evidence?: AdmissionEvidence;
}

export type MemberEvent =
  | ({ readonly type: "MemberAdmitted" } & Admission)
  | {
      readonly type: "CreditsGranted";
      readonly memberId: string;
      readonly gameId: string;
      /** Credits granted: the award less what the credit cap withheld. */
      readonly count: number;
      readonly expiresAtMs: number;
      /** Credits of the award withheld by the credit cap; absent when none were. */
      readonly capped?: number;
      /** When the game resolved; absent in events recorded before credit caps existed. */
      readonly grantedAt?: number;
    }
  | {
      readonly type: "CreditRedeemed";
      readonly memberId: string;
      readonly admittedMemberId: string;
      readonly consent: Consent;
      readonly redeemedAt: number;
      /** The member's signature over the redeem payload, and the request id it signed (absent in older events). */
      readonly signature?: Uint8Array;
      readonly requestId?: string;
    }
  | {
      readonly type: "MemberExcluded";
      readonly memberId: string;
      readonly reason: string;
      readonly sponsorIds: readonly string[];
      readonly excludedAt: number;
      /** Absent in events recorded before operator acts were signed. */
      readonly act?: ExclusionAct;
    };

export type MemberCommand =
  | ({ readonly type: "Admit" } & Admission)
  | {
      readonly type: "RedeemCredit";
      /** The network id every signature is checked against (this deployment's). */
      readonly networkId: string;
      readonly requestId: string;
      readonly consent: Consent;
      readonly signature: Uint8Array;
      /** The agreement in force now, from the network aggregate. */
      readonly agreement: { readonly version: number; readonly hash: Uint8Array } | undefined;
      /** Whether the candidate key already belongs to a member (from its own aggregate). */
      readonly candidateExists: boolean;
      readonly now: number;
    }
  | { readonly type: "Exclude"; readonly reason: string; readonly now: number; readonly authority: ExcludeAuthority }
  | {
      readonly type: "GrantCredits";
      readonly gameId: string;
      readonly count: number;
      readonly expiresAtMs: number;
      /**
       * When the game resolved (the award's time, from the adjudicator's event); absent only where
       * no credit cap applies (a grant without a time counts in no cap window).
       */
      readonly grantedAt?: number;
      /** The credit cap of the game's policy, if it has one. */
      readonly cap?: CreditCap;
    };

export const initialMemberState = (memberId: string): MemberState => ({ status: "none", memberId });

/** Credits granted, unexpired at `now`, and not yet redeemed (oldest grants are spent first). */
export function availableCredits(state: MemberState, now: number): number {
  if (state.status === "none") return 0;
  let spent = state.redeemed;
  let available = 0;
  for (const grant of [...state.grants].sort((x, y) => x.expiresAtMs - y.expiresAtMs)) {
    const used = Math.min(spent, grant.count);
    spent -= used;
    if (grant.expiresAtMs > now) available += grant.count - used;
  }
  return available;
}

/**
 * How many more credits the member may be granted at `at` under the cap: the cap less what it was
 * granted within the window back from `at`. Grants recorded before caps existed (grantedAt 0) are
 * outside every window.
 */
export function creditRoom(state: MemberState, cap: CreditCap, at: number): number {
  if (state.status === "none") return 0;
  const granted = state.grants
    .filter((grant) => grant.grantedAt > 0 && grant.grantedAt > at - cap.windowMs && grant.grantedAt <= at)
    .reduce((sum, grant) => sum + grant.count, 0);
  return Math.max(0, cap.count - granted);
}

/**
 * Whether a member sponsored by these members is tainted: one of them is a controlled identity, or
 * was itself admitted tainted. (Unknown sponsors taint nothing: the game could not have opened.)
 */
export function taintedBy(sponsors: readonly MemberState[]): boolean {
  return sponsors.some(
    (sponsor) => sponsor.status !== "none" && (sponsor.kind === "controlled" || sponsor.tainted === true),
  );
}

/**
 * The exclusions an exclusion of this member brings about: every identity its credits admitted is
 * excluded with it (and, by the same rule applied to each of them, their own controlled identities).
 * A controlled identity is the controller's own, not a person anyone vouched for: when the controller is
 * found to be a Sybil, what it minted goes too. Identity's reaction to MemberExcluded issues these.
 */
export function controlledLineageExclusions(
  state: MemberState,
  now: number,
  cause: ExclusionAct | undefined,
): { readonly memberId: string; readonly command: MemberCommand }[] {
  if (state.status !== "excluded") return [];
  return (state.controlledIds ?? []).map((memberId) => ({
    memberId,
    command: {
      type: "Exclude",
      reason: `controlled by excluded member ${state.memberId}`,
      now,
      authority: { kind: "lineage", cause },
    },
  }));
}

/** The act an exclusion records; for an operator's, only once a quorum of operator keys signed it. */
function exclusionAct(authority: ExcludeAuthority, memberId: string, reason: string): ExclusionAct | undefined {
  switch (authority.kind) {
    case "operator": {
      validateOperatorSignatures(authority.signatures);
      const payload = operatorExcludePayload(authority.networkId, authority.requestId, memberId, reason);
      requireOperatorQuorum(authority.operators, "exclude", payload, authority.signatures);
      return {
        requestId: authority.requestId,
        signatures: authority.signatures,
        keysVersion: authority.operators!.version,
        rootMemberId: memberId,
        rootReason: reason,
      };
    }
    case "lineage":
      return authority.cause;
    default: {
      const unreachable: never = authority;
      return unreachable;
    }
  }
}

export function decideMember(command: MemberCommand, state: MemberState): MemberEvent[] {
  switch (command.type) {
    case "Admit": {
      // A redelivered resolution, or a candidate admitted another way meanwhile: nothing new.
      if (state.status !== "none") return [];
      const { type: _type, ...admission } = command;
      return [{ type: "MemberAdmitted", ...admission }];
    }
    case "GrantCredits": {
      if (state.status === "none") {
        throw new IllegalStateError(`member ${state.memberId} does not exist and cannot receive credits`);
      }
      if (state.grants.some((grant) => grant.gameId === command.gameId)) return [];
      const grantedAt = command.grantedAt ?? 0;
      const count =
        command.cap && grantedAt > 0
          ? Math.min(command.count, creditRoom(state, command.cap, grantedAt))
          : command.count;
      const capped = command.count - count;
      return [
        {
          type: "CreditsGranted",
          memberId: state.memberId,
          gameId: command.gameId,
          count,
          expiresAtMs: command.expiresAtMs,
          ...(capped > 0 ? { capped } : {}),
          ...(grantedAt > 0 ? { grantedAt } : {}),
        },
      ];
    }
    case "RedeemCredit":
      return decideRedeem(command, state);
    case "Exclude": {
      if (state.status === "none") throw new NotFoundError(`member ${state.memberId} does not exist`);
      if (state.status === "excluded") return [];
      if (command.reason.trim().length === 0 || command.reason.length > 1024) {
        throw new ValidationError("reason", "must be 1-1024 characters saying why");
      }
      const act = exclusionAct(command.authority, state.memberId, command.reason);
      const accountable = state.kind === "controlled" ? [state.controllerId] : state.sponsorIds;
      return [
        {
          type: "MemberExcluded",
          memberId: state.memberId,
          reason: command.reason,
          sponsorIds: [...accountable],
          excludedAt: command.now,
          ...(act ? { act } : {}),
        },
      ];
    }
    default: {
      const unreachable: never = command;
      throw new IllegalStateError(`unknown command ${JSON.stringify(unreachable)}`);
    }
  }
}

function decideRedeem(command: Extract<MemberCommand, { type: "RedeemCredit" }>, state: MemberState): MemberEvent[] {
  if (state.status === "none") throw new NotFoundError(`member ${state.memberId} does not exist`);
  const candidateKey = command.consent.candidatePublicKey;
  const redeem = redeemPayload(command.networkId, state.memberId, candidateKey, command.requestId);
  if (!verify(command.signature, redeem, state.publicKey)) {
    throw new PermissionError(
      `signature does not verify against the key of member ${state.memberId} for network '${command.networkId}'`,
    );
  }
  if (state.status === "excluded")
    throw new IllegalStateError(`member ${state.memberId} is excluded and cannot redeem credits`);
  if (!isValidPublicKey(candidateKey))
    throw new ValidationError("consent.candidate_public_key", "is not a valid Ed25519 public key");
  const admittedMemberId = memberIdOf(candidateKey);
  if (command.candidateExists) throw new AlreadyExistsError(`candidate ${admittedMemberId} is already a member`);
  // The consent is public once proposed: only a consent naming this member as controller may be redeemed
  // by it, so no credit holder can take over another's candidate.
  if (command.consent.controllerId !== state.memberId) {
    throw new PermissionError(
      command.consent.controllerId === ""
        ? `the candidate's consent is for proposal ${command.consent.proposalId}, not for a credit redeemed by member ${state.memberId}`
        : `the candidate consented to be admitted by member ${command.consent.controllerId}, not by member ${state.memberId}`,
    );
  }
  if (command.consent.expiresAtMs <= command.now) {
    throw new IllegalStateError(
      `the candidate's consent expired at ${new Date(command.consent.expiresAtMs).toISOString()}: collect a new consent`,
    );
  }
  const agreement = command.agreement;
  if (!agreement) throw new IllegalStateError("the network has no legal agreement yet");
  if (
    command.consent.agreementVersion !== agreement.version ||
    !sameBytes(command.consent.agreementHash, agreement.hash)
  ) {
    throw new IllegalStateError(
      `the candidate consented to agreement v${command.consent.agreementVersion}, but the current agreement is v${agreement.version}`,
    );
  }
  if (!verify(command.consent.signature, consentPayload(command.networkId, command.consent), candidateKey)) {
    throw new PermissionError(
      `the candidate's consent signature does not verify against the candidate's key for network '${command.networkId}'`,
    );
  }
  if (availableCredits(state, command.now) < 1) {
    throw new IllegalStateError(`member ${state.memberId} has no unexpired admission credit left`);
  }
  return [
    {
      type: "CreditRedeemed",
      memberId: state.memberId,
      admittedMemberId,
      consent: command.consent,
      redeemedAt: command.now,
      signature: command.signature,
      requestId: command.requestId,
    },
  ];
}

export function evolveMember(state: MemberState, event: MemberEvent): MemberState {
  switch (event.type) {
    case "MemberAdmitted": {
      const { type: _type, evidence: _evidence, ...admission } = event;
      return { ...admission, status: "active", grants: [], redeemed: 0, controlledIds: [] };
    }
    case "CreditsGranted":
      if (state.status === "none") return state;
      return {
        ...state,
        grants: [
          ...state.grants,
          { gameId: event.gameId, count: event.count, expiresAtMs: event.expiresAtMs, grantedAt: event.grantedAt ?? 0 },
        ],
      };
    case "CreditRedeemed":
      if (state.status === "none") return state;
      return {
        ...state,
        redeemed: state.redeemed + 1,
        controlledIds: [...(state.controlledIds ?? []), event.admittedMemberId],
      };
    case "MemberExcluded":
      if (state.status === "none") return state;
      return { ...state, status: "excluded" };
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}
