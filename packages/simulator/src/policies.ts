import { DEFAULT_POLICY, LEGACY_GROWTH_RULES, type Policy } from "@pot/mechanism";

/** The policies `pot simulate --policy` knows, by name. */
export interface NamedPolicy {
  readonly name: string;
  readonly description: string;
  readonly policy: Omit<Policy, "version">;
  /** Taken as an event already in the log: today's validation would refuse to publish it. */
  readonly fromLog: boolean;
}

const { version: _version, ...defaults } = DEFAULT_POLICY;

export const POLICIES: Readonly<Record<string, NamedPolicy>> = {
  default: {
    name: "default",
    description: "DEFAULT_POLICY, what a new network publishes as version 1",
    policy: defaults,
    fromLog: false,
  },
  legacy: {
    name: "legacy",
    description:
      "the default payoff table and periods without growth rules (LEGACY_GROWTH_RULES), as networks ran before them: newcomers and controlled identities stake at once",
    policy: { ...defaults, growth: LEGACY_GROWTH_RULES },
    fromLog: true,
  },
};
