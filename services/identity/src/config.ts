import { readServiceConfig, type Env, type ServiceConfig } from "@pot/service-kit";

export type IdentityConfig = ServiceConfig;

export function readConfig(env: Env): IdentityConfig {
  return readServiceConfig(env, { defaultGrpcAddress: "127.0.0.1:50051" });
}
