import { readServiceConfig, type Env, type ServiceConfig } from "@pot/service-kit";

export type MatchmakerConfig = ServiceConfig;

export function readConfig(env: Env): MatchmakerConfig {
  return readServiceConfig(env, { defaultGrpcAddress: "127.0.0.1:50052" });
}
