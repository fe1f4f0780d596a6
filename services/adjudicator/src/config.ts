import { readInteger, readServiceConfig, type Env, type ServiceConfig } from "@pot/service-kit";

export interface AdjudicatorConfig extends ServiceConfig {
  /** How often the deadline sweep looks for games whose commit or reveal deadline has passed. */
  readonly deadlineSweepMs: number;
}

export function readConfig(env: Env): AdjudicatorConfig {
  return {
    ...readServiceConfig(env, { defaultGrpcAddress: "127.0.0.1:50053" }),
    deadlineSweepMs: readInteger(env, "DEADLINE_SWEEP_MS", 1_000, { min: 10, max: 3_600_000 }),
  };
}
