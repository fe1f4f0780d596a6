import { IllegalStateError, validatePolicy, type Policy } from "@pot/mechanism";

/** The network's policy history: one aggregate, versions 1, 2, 3, ... */
export interface PolicyState {
  readonly versions: readonly Policy[];
}

export type PolicyEvent = { readonly type: "PolicyPublished"; readonly policy: Policy };

export type PolicyCommand =
  | { readonly type: "PublishPolicy"; readonly policy: Omit<Policy, "version"> }
  | { readonly type: "PublishDefaultPolicy"; readonly policy: Omit<Policy, "version"> };

export const initialPolicyState: PolicyState = { versions: [] };

export function currentPolicy(state: PolicyState): Policy | undefined {
  return state.versions[state.versions.length - 1];
}

export function policyVersion(state: PolicyState, version: number): Policy | undefined {
  return state.versions[version - 1];
}

export function decidePolicy(command: PolicyCommand, state: PolicyState): PolicyEvent[] {
  switch (command.type) {
    case "PublishPolicy": {
      const policy: Policy = { ...command.policy, version: state.versions.length + 1 };
      validatePolicy(policy);
      return [{ type: "PolicyPublished", policy }];
    }
    case "PublishDefaultPolicy": {
      if (state.versions.length > 0) return [];
      const policy: Policy = { ...command.policy, version: 1 };
      validatePolicy(policy);
      return [{ type: "PolicyPublished", policy }];
    }
    default: {
      const unreachable: never = command;
      throw new IllegalStateError(`unknown command ${JSON.stringify(unreachable)}`);
    }
  }
}

export function evolvePolicy(state: PolicyState, event: PolicyEvent): PolicyState {
  switch (event.type) {
    case "PolicyPublished":
      return { versions: [...state.versions, event.policy] };
    default: {
      const unreachable: never = event.type;
      return unreachable;
    }
  }
}
