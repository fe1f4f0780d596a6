import * as grpc from "@grpc/grpc-js";
import { AdjudicatorServiceClient, IdentityServiceClient, MatchmakerServiceClient } from "@pot/contracts";

/** How one call is made: its deadline and, later, credentials carried as metadata. */
export interface CallOptions {
  /** Milliseconds from now; the client's default when omitted. */
  readonly deadlineMs?: number;
  readonly metadata?: grpc.Metadata;
}

type Unary<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

/** The unary methods of a generated grpc-js client, returning promises. */
export type Promisified<C> = {
  [K in keyof C as C[K] extends Unary<never, unknown> ? K : never]: C[K] extends Unary<infer Req, infer Res>
    ? (request: Req, options?: CallOptions) => Promise<Res>
    : never;
};

export type ServiceClient<C> = Promisified<C> & {
  /** Resolves once the channel is connected, or rejects when the deadline passes first. */
  waitForReady(deadlineMs?: number): Promise<void>;
  close(): void;
};

export const DEFAULT_DEADLINE_MS = 10_000;

/**
 * Wraps a grpc-js client so that every unary method returns a promise and carries a deadline
 * (the call's own, else `defaultDeadlineMs`). New RPCs in the contracts appear without changes here.
 */
export function promisify<C extends grpc.Client>(client: C, defaultDeadlineMs = DEFAULT_DEADLINE_MS): ServiceClient<C> {
  return new Proxy(client, {
    get(target, property) {
      if (property === "close") return () => target.close();
      if (property === "waitForReady") {
        return (deadlineMs = defaultDeadlineMs) =>
          new Promise<void>((resolve, reject) =>
            target.waitForReady(Date.now() + deadlineMs, (error) => (error ? reject(error) : resolve())),
          );
      }
      const method = (target as unknown as Record<string | symbol, unknown>)[property];
      if (typeof method !== "function") return method;
      return (request: unknown, options: CallOptions = {}) =>
        new Promise((resolve, reject) => {
          (method as Unary<unknown, unknown>).call(
            target,
            request,
            options.metadata ?? new grpc.Metadata(),
            { deadline: Date.now() + (options.deadlineMs ?? defaultDeadlineMs) },
            (error, response) => (error ? reject(error) : resolve(response)),
          );
        });
    },
  }) as unknown as ServiceClient<C>;
}

export interface ServiceAddresses {
  readonly identity: string;
  readonly matchmaker: string;
  readonly adjudicator: string;
}

export const DEFAULT_ADDRESSES: ServiceAddresses = {
  identity: "127.0.0.1:50051",
  matchmaker: "127.0.0.1:50052",
  adjudicator: "127.0.0.1:50053",
};

export interface Connections {
  readonly identity: ServiceClient<IdentityServiceClient>;
  readonly matchmaker: ServiceClient<MatchmakerServiceClient>;
  readonly adjudicator: ServiceClient<AdjudicatorServiceClient>;
  close(): void;
}

export interface ConnectOptions {
  /** Deadline of a call that sets none (default 10 s). */
  readonly deadlineMs?: number;
  /**
   * Channel credentials, e.g. `mutualTls({ ca, cert, key })`. Plaintext when omitted, which only a
   * service started with GRPC_INSECURE=true (local development) accepts.
   */
  readonly credentials?: grpc.ChannelCredentials;
  /** grpc-js client options, e.g. `interceptors` that add credentials or trace context to every call. */
  readonly channelOptions?: grpc.ClientOptions;
}

/** Channels to the three services. Nothing is dialled until the first call (or waitForReady). */
export function connect(addresses: ServiceAddresses, options: ConnectOptions = {}): Connections {
  const credentials = options.credentials ?? grpc.credentials.createInsecure();
  const deadline = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  const channel = options.channelOptions ?? {};
  const identity = promisify(new IdentityServiceClient(addresses.identity, credentials, channel), deadline);
  const matchmaker = promisify(new MatchmakerServiceClient(addresses.matchmaker, credentials, channel), deadline);
  const adjudicator = promisify(new AdjudicatorServiceClient(addresses.adjudicator, credentials, channel), deadline);
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
