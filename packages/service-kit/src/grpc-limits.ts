import type * as grpc from "@grpc/grpc-js";
import { GRPC_LIMIT_DEFAULTS, type GrpcLimits } from "./config.js";

/**
 * grpc-js server options enforcing `limits`: what a client holding a raw socket may take of the
 * server. A request over maxReceiveBytes is refused (RESOURCE_EXHAUSTED) before it is decoded;
 * a connection gets at most maxConcurrentStreams calls at once; dead peers are found by keepalive
 * pings; idle and old connections are closed so that load rebalances and nothing is held for ever.
 * Field-level limits (every string and bytes field) are checked per call: see request-bounds.ts.
 */
export function grpcServerOptions(limits: GrpcLimits = GRPC_LIMIT_DEFAULTS): grpc.ServerOptions {
  return {
    "grpc.max_receive_message_length": limits.maxReceiveBytes,
    "grpc.max_concurrent_streams": limits.maxConcurrentStreams,
    "grpc.keepalive_time_ms": limits.keepaliveMs,
    "grpc.keepalive_timeout_ms": limits.keepaliveTimeoutMs,
    "grpc.max_connection_idle_ms": limits.maxConnectionIdleMs,
    "grpc.max_connection_age_ms": limits.maxConnectionAgeMs,
    "grpc.max_connection_age_grace_ms": limits.maxConnectionAgeGraceMs,
    // HTTP/2 session memory (headers and buffered frames) per connection, in MB.
    "grpc-node.max_session_memory": 16,
  };
}
