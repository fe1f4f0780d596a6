import type { Envelope, StakePeriodRetargeted } from "@pot/contracts";
import { Outcome as PbOutcome } from "@pot/contracts";
import type { AggregateType, EventBody } from "@pot/event-store";
import {
  actionFromWire,
  actionToWire,
  moveFromWire,
  moveToWire,
  operatorKeysFromWire,
  operatorKeysToWire,
  operatorSignaturesFromWire,
  operatorSignaturesToWire,
  openingFromWire,
  openingToWire,
  policyFromWire,
  policyToWire,
  signedMoveFromWire,
  signedMoveToWire,
  sponsorFromWire,
  toBig,
  toNumber,
} from "@pot/wire";
import {
  evolveGame,
  evolvePolicy,
  initialGameState,
  initialPolicyState,
  type GameEvent,
  type GameState,
  type Outcome,
  type PolicyEvent,
  type PolicyState,
  type Retarget,
} from "../../domain/index.js";

const OUTCOMES: Record<Outcome, PbOutcome> = {
  "both-cooperated": PbOutcome.OUTCOME_BOTH_COOPERATED,
  "a-defected": PbOutcome.OUTCOME_A_DEFECTED,
  "b-defected": PbOutcome.OUTCOME_B_DEFECTED,
  "both-defected": PbOutcome.OUTCOME_BOTH_DEFECTED,
  "no-show": PbOutcome.OUTCOME_NO_SHOW,
  cancelled: PbOutcome.OUTCOME_CANCELLED,
};

export function outcomeToWire(outcome: Outcome | undefined): PbOutcome {
  return outcome ? OUTCOMES[outcome] : PbOutcome.OUTCOME_UNSPECIFIED;
}

export function outcomeFromWire(outcome: PbOutcome): Outcome {
  const found = (Object.entries(OUTCOMES) as [Outcome, PbOutcome][]).find(([, value]) => value === outcome);
  if (!found) throw new Error(`unknown outcome ${outcome}`);
  return found[0];
}

export const policyAggregate: AggregateType<PolicyState, PolicyEvent> = {
  name: "policy",
  initial: () => initialPolicyState,
  evolve: evolvePolicy,
  fromWire: policyEventFromWire,
  toWire: policyEventToWire,
};

export function policyEventFromWire(envelope: Envelope): PolicyEvent | undefined {
  const event = envelope.event;
  switch (event?.$case) {
    case "policyPublished":
      return {
        type: "PolicyPublished",
        policy: policyFromWire(event.value.policy),
        publishedAt: toNumber(event.value.publishedAtMs),
        ...(event.value.requestId !== "" || event.value.operatorSignatures.length > 0
          ? {
              act: {
                requestId: event.value.requestId,
                signatures: operatorSignaturesFromWire(event.value.operatorSignatures),
                keysVersion: event.value.operatorKeysVersion,
              },
            }
          : {}),
      };
    case "operatorKeysAdopted": {
      const operators = operatorKeysFromWire(event.value.operators);
      if (!operators) throw new Error(`OperatorKeysAdopted ${envelope.eventId} names no keys`);
      return { type: "OperatorKeysAdopted", operators, sourceEventId: event.value.sourceEventId };
    }
    case "stakePeriodRetargeted": {
      const v = event.value;
      return {
        type: "StakePeriodRetargeted",
        policyVersion: v.policyVersion,
        interval: toNumber(v.interval),
        intervalStartMs: toNumber(v.intervalStartMs),
        intervalEndMs: toNumber(v.intervalEndMs),
        admissions: v.admissions,
        targetAdmissions: v.targetAdmissions,
        oldStakePeriodMs: toNumber(v.oldStakePeriodMs),
        newStakePeriodMs: toNumber(v.newStakePeriodMs),
        throughSeq: toNumber(v.throughSeq),
      };
    }
    default:
      return undefined;
  }
}

export function retargetToWire(retarget: Retarget): StakePeriodRetargeted {
  return {
    policyVersion: retarget.policyVersion,
    interval: toBig(retarget.interval),
    intervalStartMs: toBig(retarget.intervalStartMs),
    intervalEndMs: toBig(retarget.intervalEndMs),
    admissions: retarget.admissions,
    targetAdmissions: retarget.targetAdmissions,
    oldStakePeriodMs: toBig(retarget.oldStakePeriodMs),
    newStakePeriodMs: toBig(retarget.newStakePeriodMs),
    throughSeq: toBig(retarget.throughSeq),
  };
}

export function policyEventToWire(event: PolicyEvent): EventBody {
  switch (event.type) {
    case "PolicyPublished":
      return {
        $case: "policyPublished",
        value: {
          policy: policyToWire(event.policy),
          publishedAtMs: toBig(event.publishedAt),
          requestId: event.act?.requestId ?? "",
          operatorSignatures: operatorSignaturesToWire(event.act?.signatures ?? []),
          operatorKeysVersion: event.act?.keysVersion ?? 0,
        },
      };
    case "OperatorKeysAdopted":
      return {
        $case: "operatorKeysAdopted",
        value: { operators: operatorKeysToWire(event.operators), sourceEventId: event.sourceEventId },
      };
    case "StakePeriodRetargeted": {
      const { type: _type, ...retarget } = event;
      return { $case: "stakePeriodRetargeted", value: retargetToWire(retarget) };
    }
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}

export function gameEventFromWire(envelope: Envelope): GameEvent | undefined {
  const event = envelope.event;
  switch (event?.$case) {
    case "gameStarted": {
      const v = event.value;
      return {
        type: "GameStarted",
        gameId: v.gameId,
        sponsorA: sponsorFromWire(v.sponsorA),
        sponsorB: sponsorFromWire(v.sponsorB),
        action: actionFromWire(v.action),
        policy: policyFromWire(v.policy),
        openedAt: toNumber(v.openedAtMs),
        commitDeadline: toNumber(v.commitDeadlineMs),
        ...(v.stakePeriodMs ? { stakePeriodMs: toNumber(v.stakePeriodMs) } : {}),
        opening: openingFromWire(v.opening),
      };
    }
    case "moveCommitted": {
      const v = event.value;
      return {
        type: "MoveCommitted",
        gameId: v.gameId,
        memberId: v.memberId,
        commitment: v.commitment,
        signature: v.signature,
        at: toNumber(v.committedAtMs),
      };
    }
    case "moveRevealed": {
      const v = event.value;
      return {
        type: "MoveRevealed",
        gameId: v.gameId,
        memberId: v.memberId,
        move: moveFromWire(v.move),
        nonce: v.nonce,
        signature: v.signature,
        at: toNumber(v.revealedAtMs),
      };
    }
    case "gameResolved": {
      const v = event.value;
      return {
        type: "GameResolved",
        gameId: v.gameId,
        sponsorA: sponsorFromWire(v.sponsorA),
        sponsorB: sponsorFromWire(v.sponsorB),
        action: actionFromWire(v.action),
        policyVersion: v.policyVersion,
        outcome: outcomeFromWire(v.outcome),
        moveA: v.moveA ? moveFromWireOptional(v.moveA) : undefined,
        moveB: v.moveB ? moveFromWireOptional(v.moveB) : undefined,
        resolvedAt: toNumber(v.resolvedAtMs),
        admitted: v.admitted,
        granted: v.granted,
        credits: v.credits.map((c) => ({
          memberId: c.memberId,
          count: c.count,
          expiresAtMs: toNumber(c.expiresAtMs),
          ...(c.cap > 0 ? { cap: { count: c.cap, windowMs: toNumber(c.capWindowMs) } } : {}),
        })),
        suspensions: v.suspensions.map((s) => ({ memberId: s.memberId, untilMs: toNumber(s.untilMs) })),
        noShowIds: v.noShowIds,
        ...(v.opening ? { opening: openingFromWire(v.opening) } : {}),
        ...(v.signedMoveA ? { signedMoveA: signedMoveFromWire(v.signedMoveA)! } : {}),
        ...(v.signedMoveB ? { signedMoveB: signedMoveFromWire(v.signedMoveB)! } : {}),
      };
    }
    default:
      return undefined;
  }
}

function moveFromWireOptional(move: number) {
  return move === 0 ? undefined : moveFromWire(move);
}

export function gameEventToWire(event: GameEvent): EventBody {
  switch (event.type) {
    case "GameStarted":
      return {
        $case: "gameStarted",
        value: {
          gameId: event.gameId,
          sponsorA: event.sponsorA,
          sponsorB: event.sponsorB,
          action: actionToWire(event.action),
          policy: policyToWire(event.policy),
          openedAtMs: toBig(event.openedAt),
          commitDeadlineMs: toBig(event.commitDeadline),
          stakePeriodMs: toBig(event.stakePeriodMs ?? 0),
          opening: openingToWire(event.opening),
        },
      };
    case "MoveCommitted":
      return {
        $case: "moveCommitted",
        value: {
          gameId: event.gameId,
          memberId: event.memberId,
          commitment: event.commitment,
          signature: event.signature,
          committedAtMs: toBig(event.at),
        },
      };
    case "MoveRevealed":
      return {
        $case: "moveRevealed",
        value: {
          gameId: event.gameId,
          memberId: event.memberId,
          move: moveToWire(event.move),
          nonce: event.nonce,
          signature: event.signature,
          revealedAtMs: toBig(event.at),
        },
      };
    case "GameResolved": {
      return {
        $case: "gameResolved",
        value: {
          gameId: event.gameId,
          outcome: outcomeToWire(event.outcome),
          sponsorA: event.sponsorA,
          sponsorB: event.sponsorB,
          moveA: moveToWire(event.moveA),
          moveB: moveToWire(event.moveB),
          action: actionToWire(event.action),
          policyVersion: event.policyVersion,
          resolvedAtMs: toBig(event.resolvedAt),
          admitted: event.admitted,
          granted: event.granted,
          credits: event.credits.map((c) => ({
            memberId: c.memberId,
            count: c.count,
            expiresAtMs: toBig(c.expiresAtMs),
            cap: c.cap?.count ?? 0,
            capWindowMs: toBig(c.cap?.windowMs ?? 0),
          })),
          suspensions: event.suspensions.map((s) => ({ memberId: s.memberId, untilMs: toBig(s.untilMs) })),
          noShowIds: [...event.noShowIds],
          opening: event.opening ? openingToWire(event.opening) : undefined,
          signedMoveA: signedMoveToWire(event.signedMoveA),
          signedMoveB: signedMoveToWire(event.signedMoveB),
        },
      };
    }
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}

export const gameAggregate: AggregateType<GameState, GameEvent> = {
  name: "game",
  initial: initialGameState,
  evolve: evolveGame,
  fromWire: gameEventFromWire,
  toWire: gameEventToWire,
};
