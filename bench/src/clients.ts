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

const DEADLINE_MS = 10_000;

/** A generated grpc-js client whose unary methods return promises (as test/src/support/clients.ts). */
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
            { deadline: Date.now() + (options.deadlineMs ?? DEADLINE_MS) },
            (error, response) => (error ? reject(error) : resolve(response)),
          );
        });
    },
  }) as unknown as Promisified<C> & { close(): void };
}

export interface Clients {
  readonly identity: ReturnType<typeof promisify<IdentityServiceClient>>;
  readonly matchmaker: ReturnType<typeof promisify<MatchmakerServiceClient>>;
  readonly adjudicator: ReturnType<typeof promisify<AdjudicatorServiceClient>>;
  close(): void;
}

export interface Addresses {
  readonly identity: string;
  readonly matchmaker: string;
  readonly adjudicator: string;
}

export function connectClients(addresses: Addresses): Clients {
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

/**
 * grpc.health.v1.Health/Check with an empty request (the server's overall status): the cheapest
 * unary call a service answers, over the same grpc-js stack as its own methods. The request is the
 * empty message and the reply is decoded only as far as its status, so the client does the least.
 */
export function healthChecker(address: string): { check(): Promise<void>; close(): void } {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), { "grpc.enable_retries": 0 });
  const empty = Buffer.alloc(0);
  return {
    check: () =>
      new Promise<void>((resolve, reject) => {
        client.makeUnaryRequest(
          "/grpc.health.v1.Health/Check",
          () => empty,
          (bytes: Buffer) => bytes,
          {},
          new grpc.Metadata(),
          { deadline: Date.now() + DEADLINE_MS },
          (error, reply) => {
            // HealthCheckResponse { status = 1 }: SERVING is 1, encoded as 0x08 0x01.
            if (error) reject(error);
            else if (reply?.[0] !== 0x08 || reply[1] !== 0x01) reject(new Error("health check: not SERVING"));
            else resolve();
          },
        );
      }),
    close: () => client.close(),
  };
}

export function statusOf(error: unknown): string {
  const code = (error as grpc.ServiceError | undefined)?.code;
  return code === undefined ? "ERROR" : (grpc.status[code] ?? String(code));
}

export function isStatus(error: unknown, code: grpc.status): boolean {
  return typeof error === "object" && error !== null && (error as grpc.ServiceError).code === code;
}
