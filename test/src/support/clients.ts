import * as grpc from "@grpc/grpc-js";
import { AdjudicatorServiceClient, IdentityServiceClient, MatchmakerServiceClient } from "@pot/contracts";

type Unary<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

type Promisified<C> = {
  [K in keyof C as C[K] extends Unary<never, unknown> ? K : never]: C[K] extends Unary<infer Req, infer Res>
    ? (request: Req, options?: { deadlineMs?: number }) => Promise<Res>
    : never;
};

/** A grpc-js client whose unary methods return promises (deadline 5 s unless told otherwise). */
export function promisify<C extends grpc.Client>(client: C): Promisified<C> & { close(): void } {
  return new Proxy(client, {
    get(target, property) {
      if (property === "close") return () => target.close();
      const method = (target as unknown as Record<string | symbol, unknown>)[property];
      if (typeof method !== "function") return method;
      return (request: unknown, options: { deadlineMs?: number } = {}) =>
        new Promise((resolve, reject) => {
          (method as Unary<unknown, unknown>).call(
            target,
            request,
            new grpc.Metadata(),
            { deadline: Date.now() + (options.deadlineMs ?? 5_000) },
            (error, response) => (error ? reject(error) : resolve(response)),
          );
        });
    },
  }) as unknown as Promisified<C> & { close(): void };
}

export interface Clients {
  identity: ReturnType<typeof promisify<IdentityServiceClient>>;
  matchmaker: ReturnType<typeof promisify<MatchmakerServiceClient>>;
  adjudicator: ReturnType<typeof promisify<AdjudicatorServiceClient>>;
  close(): void;
}

export function connectClients(addresses: { identity: string; matchmaker: string; adjudicator: string }): Clients {
  const insecure = grpc.credentials.createInsecure();
  const identity = promisify(new IdentityServiceClient(addresses.identity, insecure));
  const matchmaker = promisify(new MatchmakerServiceClient(addresses.matchmaker, insecure));
  const adjudicator = promisify(new AdjudicatorServiceClient(addresses.adjudicator, insecure));
  return {
    identity,
    matchmaker,
    adjudicator,
    close() {
      identity.close();
      matchmaker.close();
      adjudicator.close();
    },
  };
}

/** Retries `probe` until it returns a value (not undefined) or the timeout passes. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${String((last as Error).message ?? last)}` : ""}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export function isStatus(error: unknown, code: grpc.status): boolean {
  return typeof error === "object" && error !== null && (error as grpc.ServiceError).code === code;
}
