import * as grpc from "@grpc/grpc-js";
import { toGrpcStatus, type GrpcStatus } from "./grpc-status.js";
import type { Logger } from "./logger.js";

export interface CallContext {
  /** When the client stops waiting; undefined if it set no deadline. */
  deadline: Date | undefined;
  /** Aborted when the deadline passes or the client cancels; pass it to anything slow. */
  signal: AbortSignal;
  metadata: grpc.Metadata;
}

export type UnaryHandler<Req, Res> = (request: Req, context: CallContext) => Promise<Res>;

// setTimeout fires at once for delays beyond a signed 32-bit millisecond count (~24.8 days).
const MAX_TIMER_MS = 2 ** 31 - 1;
// Timers run on the event loop's cached clock, so one may fire a few milliseconds before Date.now() agrees.
const DEADLINE_SLACK_MS = 25;

/**
 * Adapts an async handler to grpc-js. The callback fires exactly once: with the handler's
 * response, with the status of its error (via toGrpcStatus, the only mapping), or with
 * DEADLINE_EXCEEDED when the deadline passes first. The signal aborts on deadline and on
 * cancellation; whatever the handler does afterwards is dropped.
 */
export function unary<Req, Res>(
  method: string,
  handler: UnaryHandler<Req, Res>,
  options: { logger: Logger },
): grpc.handleUnaryCall<Req, Res> {
  const { logger } = options;
  return (call, callback) => {
    const startedAt = performance.now();
    const elapsedMs = () => Math.round(performance.now() - startedAt);
    const controller = new AbortController();
    const deadline = deadlineOf(call);
    let timer: NodeJS.Timeout | undefined;
    let settled = false;

    const settle = (error: GrpcStatus | null, response?: Res): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      call.off("cancelled", onCancelled);
      if (error === null) callback(null, response);
      else callback({ code: error.code, details: error.details });
    };

    const expire = (): void => {
      logger.debug({ method, durationMs: elapsedMs() }, "deadline exceeded");
      controller.abort(new DOMException(`${method}: deadline exceeded`, "TimeoutError"));
      settle({ code: grpc.status.DEADLINE_EXCEEDED, details: "deadline exceeded" });
    };

    // grpc-js drops anything sent after a cancellation; settling here just stops us trying.
    function onCancelled(): void {
      // grpc-js enforces the deadline too, and its timer may win: the call then ends as cancelled.
      if (deadline !== undefined && Date.now() >= deadline.getTime() - DEADLINE_SLACK_MS) return expire();
      logger.debug({ method, durationMs: elapsedMs() }, "call cancelled by the client");
      controller.abort(new DOMException(`${method}: call cancelled by the client`, "AbortError"));
      settle({ code: grpc.status.CANCELLED, details: "cancelled" });
    }
    call.on("cancelled", onCancelled);

    if (deadline !== undefined) {
      const remainingMs = deadline.getTime() - Date.now();
      if (remainingMs <= 0) return expire();
      if (remainingMs <= MAX_TIMER_MS) timer = setTimeout(expire, remainingMs);
    }

    void (async () => {
      try {
        const response = await handler(call.request, { deadline, signal: controller.signal, metadata: call.metadata });
        if (!settled) logger.debug({ method, durationMs: elapsedMs() }, "call completed");
        settle(null, response);
      } catch (error) {
        if (controller.signal.aborted && (error === controller.signal.reason || isAbortError(error))) {
          logger.debug({ method, durationMs: elapsedMs() }, "handler stopped after its call was aborted");
          return;
        }
        const { code, details } = toGrpcStatus(error);
        const fields = { method, durationMs: elapsedMs(), code: grpc.status[code] };
        if (code === grpc.status.INTERNAL) logger.error({ ...fields, err: error }, "call failed");
        else if (code === grpc.status.UNAVAILABLE)
          logger.warn({ ...fields, err: error }, "call failed: dependency unavailable");
        else logger.debug({ ...fields, details }, "call refused");
        settle({ code, details });
      }
    })();
  };
}

function deadlineOf(call: grpc.ServerUnaryCall<unknown, unknown>): Date | undefined {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}

type UnaryMethod<Req, Res> = {
  readonly path: string;
  readonly requestStream: false;
  readonly responseStream: false;
  requestDeserialize(bytes: Buffer): Req;
  responseSerialize(value: Res): Buffer;
};

/** One async handler per method of a (ts-proto `outputServices=grpc-js`) service definition. */
export type UnaryHandlers<D> = {
  [K in keyof D]: D[K] extends UnaryMethod<infer Req, infer Res> ? UnaryHandler<Req, Res> : never;
};

/** What `implement` returns; assignable to the generated `XxxServer` interface. */
export type UnaryImplementation<D> = {
  [K in keyof D]: D[K] extends UnaryMethod<infer Req, infer Res> ? grpc.handleUnaryCall<Req, Res> : never;
};

/** Wraps every method of a unary-only service with `unary`, named by its path for the logs. */
export function implement<D extends grpc.ServiceDefinition>(
  definition: D,
  handlers: UnaryHandlers<D>,
  options: { logger: Logger },
): UnaryImplementation<D> {
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const [key, method] of Object.entries(definition)) {
    if (method.requestStream || method.responseStream) {
      throw new Error(`${method.path} streams; implement it with grpc-js directly`);
    }
    const handler = (handlers as Record<string, UnaryHandler<unknown, unknown>>)[key];
    if (handler === undefined) throw new Error(`no handler for ${method.path}`);
    implementation[key] = unary(method.path, handler, options);
  }
  return implementation as UnaryImplementation<D>;
}
