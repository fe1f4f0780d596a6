import { IllegalStateError } from "@pot/mechanism";

export type AdmissionKind = "genesis" | "sponsored" | "controlled";

export interface Consent {
  readonly candidatePublicKey: Uint8Array;
  readonly agreementVersion: number;
  readonly agreementHash: Uint8Array;
  readonly signature: Uint8Array;
}

export interface CreditGrant {
  readonly gameId: string;
  readonly count: number;
  readonly expiresAtMs: number;
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
    };

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
}

export type MemberEvent =
  | ({ readonly type: "MemberAdmitted" } & Admission)
  | {
      readonly type: "CreditsGranted";
      readonly memberId: string;
      readonly gameId: string;
      readonly count: number;
      readonly expiresAtMs: number;
    }
  | { readonly type: "CreditRedeemed"; readonly memberId: string; readonly admittedMemberId: string }
  | {
      readonly type: "MemberExcluded";
      readonly memberId: string;
      readonly reason: string;
      readonly sponsorIds: readonly string[];
      readonly excludedAt: number;
    };

export type MemberCommand =
  | ({ readonly type: "Admit" } & Admission)
  | {
      readonly type: "GrantCredits";
      readonly gameId: string;
      readonly count: number;
      readonly expiresAtMs: number;
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
      return [
        {
          type: "CreditsGranted",
          memberId: state.memberId,
          gameId: command.gameId,
          count: command.count,
          expiresAtMs: command.expiresAtMs,
        },
      ];
    }
    default: {
      const unreachable: never = command;
      throw new IllegalStateError(`unknown command ${JSON.stringify(unreachable)}`);
    }
  }
}

export function evolveMember(state: MemberState, event: MemberEvent): MemberState {
  switch (event.type) {
    case "MemberAdmitted": {
      const { type: _type, ...admission } = event;
      return { ...admission, status: "active", grants: [], redeemed: 0 };
    }
    case "CreditsGranted":
      if (state.status === "none") return state;
      return {
        ...state,
        grants: [...state.grants, { gameId: event.gameId, count: event.count, expiresAtMs: event.expiresAtMs }],
      };
    case "CreditRedeemed":
      if (state.status === "none") return state;
      return { ...state, redeemed: state.redeemed + 1 };
    case "MemberExcluded":
      if (state.status === "none") return state;
      return { ...state, status: "excluded" };
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}
