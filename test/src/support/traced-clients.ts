import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { AdjudicatorServiceClient, IdentityServiceClient, MatchmakerServiceClient } from "@pot/contracts";
import { promisify, type Clients } from "./clients.js";

/** A client-side trace the test plays under: every call sends a W3C traceparent naming a fresh client span. */
export interface ClientTrace {
  readonly traceId: string;
  /** Client span id -> "<method path> (test client)": the parents the services saw, which the test never exports. */
  readonly calls: Map<string, string>;
}

export function newTrace(): ClientTrace {
  return { traceId: randomBytes(16).toString("hex"), calls: new Map() };
}

/**
 * Clients like connectClients', whose calls carry the trace set with `use` (none: no traceparent),
 * as a platform calling the services from inside its own trace would send them.
 */
export function tracedClients(
  addresses: { identity: string; matchmaker: string; adjudicator: string },
  credentials: grpc.ChannelCredentials,
): Clients & {
  use(trace: ClientTrace | undefined): void;
} {
  let current: ClientTrace | undefined;
  const interceptor: grpc.Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        if (current) {
          const spanId = randomBytes(8).toString("hex");
          current.calls.set(spanId, `${options.method_definition.path} (test client)`);
          metadata.set("traceparent", `00-${current.traceId}-${spanId}-01`);
        }
        next(metadata, listener);
      },
    });
  const options = { interceptors: [interceptor] };
  const identity = promisify(new IdentityServiceClient(addresses.identity, credentials, options));
  const matchmaker = promisify(new MatchmakerServiceClient(addresses.matchmaker, credentials, options));
  const adjudicator = promisify(new AdjudicatorServiceClient(addresses.adjudicator, credentials, options));
  return {
    identity,
    matchmaker,
    adjudicator,
    use(trace) {
      current = trace;
    },
    close() {
      identity.close();
      matchmaker.close();
      adjudicator.close();
    },
  };
}
