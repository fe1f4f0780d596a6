import * as pb from "@pot/contracts";
import {
  memberIdOf,
  NO_OPENING,
  openingForgery,
  sameBytes,
  redemptionForgery,
  resolutionForgery,
  sponsoredAdmissionForgery,
  type ActionSpec,
  type CreditAwardAmount,
  type GameOutcome,
  type GameSignatures,
  type SuspensionAmount,
} from "@pot/mechanism";
import {
  actionFromWire,
  moveFromWire,
  openingFromWire,
  signedMoveFromWire,
  sponsorFromWire,
  toNumber,
} from "./index.js";

/**
 * The re-checks a reacting service (and `pot verify`) runs on an event of another service's stream,
 * from its protobuf form: the pure checks of @pot/mechanism (evidence.ts) over what the event carries.
 * Each answers why the event is not justified, as a sentence, or undefined; a malformed field is one
 * more reason (a forged event need not even decode as its producer would have written it).
 */

const OUTCOMES: Partial<Record<pb.Outcome, GameOutcome>> = {
  [pb.Outcome.OUTCOME_BOTH_COOPERATED]: "both-cooperated",
  [pb.Outcome.OUTCOME_A_DEFECTED]: "a-defected",
  [pb.Outcome.OUTCOME_B_DEFECTED]: "b-defected",
  [pb.Outcome.OUTCOME_BOTH_DEFECTED]: "both-defected",
  [pb.Outcome.OUTCOME_NO_SHOW]: "no-show",
  [pb.Outcome.OUTCOME_CANCELLED]: "cancelled",
};

const NO_SIGNATURES: GameSignatures = { opening: NO_OPENING, moveA: undefined, moveB: undefined };

function malformed(error: unknown): string {
  return `malformed: ${error instanceof Error ? error.message : String(error)}`;
}

/**
 * A GameResolved's signatures, and why they do not justify it (resolutionForgery: the opening both
 * sponsors signed, their signed moves, the outcome and the effects that follow from them), if they do not.
 */
export function resolutionEvidence(
  networkId: string,
  resolved: pb.GameResolved,
): { readonly signatures: GameSignatures; readonly forgery: string | undefined } {
  try {
    const outcome = OUTCOMES[resolved.outcome];
    if (outcome === undefined) {
      return { signatures: NO_SIGNATURES, forgery: `outcome ${resolved.outcome} is not a game's outcome` };
    }
    const move = (value: pb.Move) => (value === pb.Move.MOVE_UNSPECIFIED ? undefined : moveFromWire(value));
    const signatures: GameSignatures = {
      opening: openingFromWire(resolved.opening),
      moveA: signedMoveFromWire(resolved.signedMoveA),
      moveB: signedMoveFromWire(resolved.signedMoveB),
    };
    const forgery = resolutionForgery(
      networkId,
      {
        gameId: resolved.gameId,
        sponsorA: sponsorFromWire(resolved.sponsorA),
        sponsorB: sponsorFromWire(resolved.sponsorB),
        action: actionFromWire(resolved.action),
        outcome,
        moveA: move(resolved.moveA),
        moveB: move(resolved.moveB),
        admitted: resolved.admitted,
        granted: resolved.granted,
        creditedIds: resolved.credits.map((award) => award.memberId),
        suspendedIds: resolved.suspensions.map((suspension) => suspension.memberId),
        noShowIds: resolved.noShowIds,
      },
      signatures,
    );
    return { signatures, forgery };
  } catch (error) {
    return { signatures: NO_SIGNATURES, forgery: malformed(error) };
  }
}

/**
 * What a GameResolved claims about its amounts, as the pure recomputation of @pot/mechanism
 * (resolutionAmountsForgery) reads it: the basis (action, outcome, resolution time, no-shows) and the
 * credit awards (count, expiry, cap) and suspension ends it carries. A consumer that knows the policy
 * the game opened under compares them; a field that does not decode is a forgery.
 */
export function resolutionAmountsClaimOf(resolved: pb.GameResolved):
  | {
      readonly claim: {
        readonly action: ActionSpec;
        readonly outcome: GameOutcome;
        readonly resolvedAt: number;
        readonly noShowIds: readonly string[];
        readonly credits: readonly CreditAwardAmount[];
        readonly suspensions: readonly SuspensionAmount[];
      };
      readonly forgery?: undefined;
    }
  | { readonly claim?: undefined; readonly forgery: string } {
  try {
    const outcome = OUTCOMES[resolved.outcome];
    if (outcome === undefined) return { forgery: `outcome ${resolved.outcome} is not a game's outcome` };
    return {
      claim: {
        action: actionFromWire(resolved.action),
        outcome,
        resolvedAt: toNumber(resolved.resolvedAtMs),
        noShowIds: resolved.noShowIds,
        credits: resolved.credits.map((award) => ({
          memberId: award.memberId,
          count: award.count,
          expiresAtMs: toNumber(award.expiresAtMs),
          ...(award.cap > 0 ? { cap: { count: award.cap, windowMs: toNumber(award.capWindowMs) } } : {}),
        })),
        suspensions: resolved.suspensions.map((suspension) => ({
          memberId: suspension.memberId,
          untilMs: toNumber(suspension.untilMs),
        })),
      },
    };
  } catch (error) {
    return { forgery: malformed(error) };
  }
}

/**
 * Why a MemberAdmitted is not justified by what it carries, or undefined: a sponsored member by the
 * signatures of the game that admitted it (both sponsors opened it over this candidate's consent and
 * both revealed cooperate), a controlled one by its controller's signed redemption and the candidate's
 * consent to that controller. A genesis member is admitted by the operator's bootstrap, which this
 * does not judge (operator acts carry the operators' signatures); an admission of no kind is refused.
 */
export function admissionForgery(networkId: string, admitted: pb.MemberAdmitted): string | undefined {
  try {
    const consent = admitted.consent;
    if (admitted.kind !== pb.AdmissionKind.ADMISSION_KIND_GENESIS) {
      if (!consent) return "the admission carries no consent";
      if (
        memberIdOf(admitted.publicKey) !== admitted.memberId ||
        !sameBytes(admitted.publicKey, consent.candidatePublicKey)
      ) {
        return `member ${admitted.memberId.slice(0, 80)} is admitted with another key than the one that consented`;
      }
    }
    switch (admitted.kind) {
      case pb.AdmissionKind.ADMISSION_KIND_GENESIS:
        return undefined;
      case pb.AdmissionKind.ADMISSION_KIND_SPONSORED: {
        if (!admitted.opening) return "a sponsored admission carries no signatures of the game that admitted it";
        const action = actionFromWire({ action: { $case: "admission", value: { consent } } }, "consent");
        if (action.type !== "admission") return "a sponsored admission carries no consent";
        if (action.consentProposalId !== admitted.gameId) {
          return `the candidate's consent is not for game ${admitted.gameId}`;
        }
        return sponsoredAdmissionForgery(
          networkId,
          { gameId: admitted.gameId, sponsorIds: admitted.sponsorIds, action },
          {
            opening: openingFromWire(admitted.opening),
            moveA: signedMoveFromWire(admitted.signedMoveA),
            moveB: signedMoveFromWire(admitted.signedMoveB),
          },
        );
      }
      case pb.AdmissionKind.ADMISSION_KIND_CONTROLLED: {
        if (!consent) return "a controlled admission carries no consent";
        if (admitted.redeemSignature.length === 0) return "a controlled admission carries no redeem signature";
        return redemptionForgery(networkId, {
          controllerId: admitted.controllerId,
          consent: {
            candidatePublicKey: consent.candidatePublicKey,
            agreementVersion: consent.agreementVersion,
            agreementHash: consent.agreementHash,
            proposalId: consent.proposalId,
            controllerId: consent.controllerId,
            expiresAtMs: toNumber(consent.expiresAtMs),
            signature: consent.signature,
          },
          requestId: admitted.redeemRequestId,
          signature: admitted.redeemSignature,
        });
      }
      default:
        return `an admission of kind ${admitted.kind} is justified by nothing`;
    }
  } catch (error) {
    return malformed(error);
  }
}

/** Why a GameOpened's opening signatures do not open it (openingForgery), or undefined. */
export function openingEvidenceForgery(networkId: string, opened: pb.GameOpened): string | undefined {
  try {
    if (!opened.opening) return "it carries no opening signatures";
    return openingForgery(
      networkId,
      {
        gameId: opened.gameId,
        sponsorA: sponsorFromWire(opened.sponsorA),
        sponsorB: sponsorFromWire(opened.sponsorB),
        action: actionFromWire(opened.action),
      },
      openingFromWire(opened.opening),
    );
  } catch (error) {
    return malformed(error);
  }
}
