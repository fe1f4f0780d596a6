import {
  IllegalStateError,
  operatorKeysAdoption,
  operatorPolicyPayload,
  PermissionError,
  requireOperatorQuorum,
  validateOperatorSignatures,
  validatePolicy,
  type OperatorKeys,
  type OperatorKeysSource,
  type OperatorSignature,
  type Policy,
} from "@pot/mechanism";
import { firstRetargetInterval, intervalEnd, intervalStart, rateTargetOn, retargetStakePeriod } from "./retarget.js";

/** One retarget of the admission stake period at the end of an interval (see retarget.ts). */
export interface Retarget {
  readonly policyVersion: number;
  readonly interval: number;
  readonly intervalStartMs: number;
  readonly intervalEndMs: number;
  readonly admissions: number;
  readonly targetAdmissions: number;
  readonly oldStakePeriodMs: number;
  readonly newStakePeriodMs: number;
  /** The adjudicator stream sequence the admissions count reflects. */
  readonly throughSeq: number;
}

/** The network's policy history (one aggregate, versions 1, 2, 3, ...) and the current stake period. */
export interface PolicyState {
  readonly versions: readonly Policy[];
  /** When the current version was published (0 for a version published before this was recorded). */
  readonly publishedAt: number;
  /** The admission stake period in force under the current version: its own, or the last retargeted one. */
  readonly stakePeriodMs: number;
  /** Under a current version with a rate target, the interval to retarget next. */
  readonly nextInterval: number;
  readonly lastRetarget: Retarget | undefined;
  /** The operator keys in force, as learned from identity's stream (undefined before genesis). */
  readonly operators: OperatorKeys | undefined;
}

/** A policy's operator act: its request id, signatures, and the operator key set they are of. */
export interface PolicyAct {
  readonly requestId: string;
  readonly signatures: readonly OperatorSignature[];
  readonly keysVersion: number;
}

export type PolicyEvent =
  | {
      readonly type: "PolicyPublished";
      readonly policy: Policy;
      readonly publishedAt: number;
      /** Absent for the built-in default policy, and in events before operator acts were signed. */
      readonly act?: PolicyAct;
    }
  | ({ readonly type: "StakePeriodRetargeted" } & Retarget)
  | { readonly type: "OperatorKeysAdopted"; readonly operators: OperatorKeys; readonly sourceEventId: string };

export type PolicyCommand =
  | {
      readonly type: "PublishPolicy";
      readonly policy: Omit<Policy, "version">;
      readonly now: number;
      readonly networkId: string;
      readonly requestId: string;
      /** SHA-256 of the policy's protobuf encoding with version 0 (@pot/wire policyDigest). */
      readonly digest: Uint8Array;
      readonly signatures: readonly OperatorSignature[];
    }
  | {
      /** Learn the operator keys from identity's genesis or rotation, re-checked before adopting. */
      readonly type: "AdoptOperatorKeys";
      readonly networkId: string;
      readonly source: OperatorKeysSource;
      readonly sourceEventId: string;
    }
  | { readonly type: "PublishDefaultPolicy"; readonly policy: Omit<Policy, "version">; readonly now: number }
  | {
      /** Retarget at the end of `interval`, from the admissions it saw (counted through `throughSeq`). */
      readonly type: "RetargetStakePeriod";
      readonly policyVersion: number;
      readonly interval: number;
      readonly admissions: number;
      readonly throughSeq: number;
      readonly now: number;
    };

export const initialPolicyState: PolicyState = {
  versions: [],
  publishedAt: 0,
  stakePeriodMs: 0,
  nextInterval: 0,
  lastRetarget: undefined,
  operators: undefined,
};

export function currentPolicy(state: PolicyState): Policy | undefined {
  return state.versions[state.versions.length - 1];
}

export function policyVersion(state: PolicyState, version: number): Policy | undefined {
  return state.versions[version - 1];
}

/** The interval due for a retarget under the current policy, or undefined when its target is off. */
export function dueInterval(state: PolicyState): { policy: Policy; interval: number } | undefined {
  const policy = currentPolicy(state);
  if (!policy || !rateTargetOn(policy.rateTarget)) return undefined;
  return { policy, interval: state.nextInterval };
}

export function decidePolicy(command: PolicyCommand, state: PolicyState): PolicyEvent[] {
  switch (command.type) {
    case "PublishPolicy": {
      const policy: Policy = { ...command.policy, version: state.versions.length + 1 };
      validatePolicy(policy);
      validateOperatorSignatures(command.signatures);
      const payload = operatorPolicyPayload(command.networkId, command.requestId, policy.version, command.digest);
      requireOperatorQuorum(state.operators, "policy", payload, command.signatures);
      const act = {
        requestId: command.requestId,
        signatures: command.signatures,
        keysVersion: state.operators!.version,
      };
      return [{ type: "PolicyPublished", policy, publishedAt: command.now, act }];
    }
    case "AdoptOperatorKeys": {
      const adoption = operatorKeysAdoption(command.networkId, state.operators, command.source);
      if (adoption === "known") return [];
      if (adoption !== "adopt") {
        throw new PermissionError(
          `operator keys of identity event ${command.sourceEventId} refused: ${adoption.refused}`,
        );
      }
      return [
        { type: "OperatorKeysAdopted", operators: command.source.operators, sourceEventId: command.sourceEventId },
      ];
    }
    case "PublishDefaultPolicy": {
      if (state.versions.length > 0) return [];
      const policy: Policy = { ...command.policy, version: 1 };
      validatePolicy(policy);
      return [{ type: "PolicyPublished", policy, publishedAt: command.now }];
    }
    case "RetargetStakePeriod":
      return decideRetarget(command, state);
    default: {
      const unreachable: never = command;
      throw new IllegalStateError(`unknown command ${JSON.stringify(unreachable)}`);
    }
  }
}

function decideRetarget(
  command: Extract<PolicyCommand, { type: "RetargetStakePeriod" }>,
  state: PolicyState,
): PolicyEvent[] {
  const due = dueInterval(state);
  // A policy published meanwhile (or a retried retarget of an interval done): nothing left to do.
  if (!due || due.policy.version !== command.policyVersion || command.interval < due.interval) return [];
  const target = due.policy.rateTarget;
  if (command.interval > due.interval) {
    throw new IllegalStateError(`interval ${command.interval} cannot be retargeted before interval ${due.interval}`);
  }
  const endMs = intervalEnd(target, command.interval);
  if (command.now < endMs) {
    throw new IllegalStateError(`interval ${command.interval} ends at ${new Date(endMs).toISOString()}, not yet`);
  }
  return [
    {
      type: "StakePeriodRetargeted",
      policyVersion: command.policyVersion,
      interval: command.interval,
      intervalStartMs: intervalStart(target, command.interval),
      intervalEndMs: endMs,
      admissions: command.admissions,
      targetAdmissions: target.admissionsPerInterval,
      oldStakePeriodMs: state.stakePeriodMs,
      newStakePeriodMs: retargetStakePeriod(target, state.stakePeriodMs, command.admissions),
      throughSeq: command.throughSeq,
    },
  ];
}

export function evolvePolicy(state: PolicyState, event: PolicyEvent): PolicyState {
  switch (event.type) {
    case "PolicyPublished": {
      const target = event.policy.rateTarget;
      return {
        ...state,
        versions: [...state.versions, event.policy],
        publishedAt: event.publishedAt,
        stakePeriodMs: event.policy.admission.stakePeriodMs,
        nextInterval: rateTargetOn(target) ? firstRetargetInterval(target, event.publishedAt) : 0,
        lastRetarget: undefined,
      };
    }
    case "StakePeriodRetargeted": {
      if (event.policyVersion !== currentPolicy(state)?.version) return state;
      const { type: _type, ...retarget } = event;
      return {
        ...state,
        stakePeriodMs: event.newStakePeriodMs,
        nextInterval: event.interval + 1,
        lastRetarget: retarget,
      };
    }
    case "OperatorKeysAdopted":
      return { ...state, operators: event.operators };
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}
