import * as grpc from "@grpc/grpc-js";
import {
  context as otelContext,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
  type TextMapGetter,
} from "@opentelemetry/api";
import { ATTR, createHistogram, meter, METRICS } from "@pot/telemetry";
import { toGrpcStatus, type GrpcStatus } from "./grpc-status.js";
import type { Logger } from "./logger.js";
import { checkRequestLimits } from "./request-bounds.js";

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

const TRACER_NAME = "@pot/service-kit";

/** Statuses that mean the server failed (OpenTelemetry's rule for gRPC server spans); the rest are the caller's. */
const SERVER_ERRORS = new Set<grpc.status>([
  grpc.status.UNKNOWN,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.UNIMPLEMENTED,
  grpc.status.INTERNAL,
  grpc.status.UNAVAILABLE,
  grpc.status.DATA_LOSS,
]);

const metadataGetter: TextMapGetter<grpc.Metadata> = {
  get: (metadata, key) => {
    const values = metadata.get(key);
    return values.length === 0 ? undefined : values.map(String);
  },
  keys: (metadata) => Object.keys(metadata.getMap()),
};

let rpcDuration: ReturnType<typeof createHistogram> | undefined;

/** "/pot.v1.MatchmakerService/Accept" -> ["pot.v1.MatchmakerService", "Accept"]; `fallback` names the method otherwise. */
function serviceAndMethod(path: string | undefined, fallback: string): [string, string] {
  const match = path === undefined ? null : /^\/([^/]+)\/([^/]+)$/.exec(path);
  if (match) return [match[1]!, match[2]!];
  const slash = fallback.lastIndexOf("/");
  return slash < 0 ? ["", fallback] : [fallback.slice(0, slash).replace(/^\//, ""), fallback.slice(slash + 1)];
}

/**
 * Adapts an async handler to grpc-js. The callback fires exactly once: with the handler's
 * response, with the status of its error (via toGrpcStatus, the only mapping), or with
 * DEADLINE_EXCEEDED when the deadline passes first. The signal aborts on deadline and on
 * cancellation; whatever the handler does afterwards is dropped.
 *
 * A request to a pot.* service is first held to the limits of its fields (request-bounds.ts):
 * INVALID_ARGUMENT without running the handler.
 *
 * The handler runs in a SERVER span, child of the trace context the caller sent in its metadata
 * (W3C traceparent), named "<service>/<method>"; the call's duration is recorded by method and
 * status in pot.rpc.server.duration.
 */
export function unary<Req, Res>(
  method: string,
  handler: UnaryHandler<Req, Res>,
  options: { logger: Logger },
): grpc.handleUnaryCall<Req, Res> {
  const { logger } = options;
  rpcDuration ??= createHistogram(meter(TRACER_NAME), METRICS.rpcDuration);
  const histogram = rpcDuration;
  return (call, callback) => {
    const startedAt = performance.now();
    const elapsedMs = () => Math.round(performance.now() - startedAt);
    const controller = new AbortController();
    const deadline = deadlineOf(call);
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const [service, name] = serviceAndMethod(call.getPath?.(), method);
    const parent = propagation.extract(ROOT_CONTEXT, call.metadata, metadataGetter);
    const span: Span = trace.getTracer(TRACER_NAME).startSpan(
      service ? `${service}/${name}` : name,
      {
        kind: SpanKind.SERVER,
        attributes: { [ATTR.rpcSystem]: "grpc", [ATTR.rpcService]: service, [ATTR.rpcMethod]: name },
      },
      parent,
    );
    const active = trace.setSpan(parent, span);

    const settle = (error: GrpcStatus | null, response?: Res): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      call.off("cancelled", onCancelled);
      const code = error === null ? grpc.status.OK : error.code;
      span.setAttribute(ATTR.rpcGrpcStatus, code);
      if (SERVER_ERRORS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, message: error?.details });
      span.end();
      histogram.record((performance.now() - startedAt) / 1_000, {
        [ATTR.rpcService]: service,
        [ATTR.rpcMethod]: name,
        [ATTR.rpcStatus]: grpc.status[code],
      });
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
      otelContext.with(active, cancelled);
    }
    function cancelled(): void {
      // grpc-js enforces the deadline too, and its timer may win: the call then ends as cancelled.
      if (deadline !== undefined && Date.now() >= deadline.getTime() - DEADLINE_SLACK_MS) return expire();
      logger.debug({ method, durationMs: elapsedMs() }, "call cancelled by the client");
      controller.abort(new DOMException(`${method}: call cancelled by the client`, "AbortError"));
      settle({ code: grpc.status.CANCELLED, details: "cancelled" });
    }
    call.on("cancelled", onCancelled);

    if (deadline !== undefined) {
      const remainingMs = deadline.getTime() - Date.now();
      if (remainingMs <= 0) return otelContext.with(active, expire);
      if (remainingMs <= MAX_TIMER_MS) timer = setTimeout(() => otelContext.with(active, expire), remainingMs);
    }

    void otelContext.with(active, async () => {
      try {
        // The edge: every request of our own services is held to its field limits before any handler sees it.
        if (service.startsWith("pot.")) checkRequestLimits(`${name}Request`, call.request);
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
        if (code === grpc.status.INTERNAL) {
          span.recordException(error as Error);
          logger.error({ ...fields, err: error }, "call failed");
        } else if (code === grpc.status.UNAVAILABLE) {
          span.recordException(error as Error);
          logger.warn({ ...fields, err: error }, "call failed: dependency unavailable");
        } else logger.debug({ ...fields, details }, "call refused");
        settle({ code, details });
      }
    });
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
