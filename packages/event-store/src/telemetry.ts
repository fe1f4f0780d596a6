import { trace, type Attributes, type Counter, type Histogram, type Tracer } from "@opentelemetry/api";
import type { JetStreamManager } from "@nats-io/jetstream";
import { ATTR, createCounter, createHistogram, createObservableGauge, meter, METRICS } from "@pot/telemetry";

export const TRACER_NAME = "@pot/event-store";

export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** Span attributes every NATS span carries. */
export function natsAttributes(operation: "publish" | "process" | "receive", extra: Attributes = {}): Attributes {
  return {
    [ATTR.messagingSystem]: "nats",
    [ATTR.messagingOperationType]: operation === "publish" ? "send" : operation,
    [ATTR.messagingOperationName]: operation,
    ...extra,
  };
}

interface Instruments {
  readonly publishDuration: Histogram;
  readonly conflicts: Counter;
  readonly redeliveries: Counter;
  readonly consumerDuration: Histogram;
}

let instruments: Instruments | undefined;

/** The package's instruments, created on first use (after the preload registered the SDK). */
export function eventStoreInstruments(): Instruments {
  if (instruments) return instruments;
  const m = meter(TRACER_NAME);
  instruments = {
    publishDuration: createHistogram(m, METRICS.publishDuration),
    conflicts: createCounter(m, METRICS.publishConflicts),
    redeliveries: createCounter(m, METRICS.consumerRedeliveries),
    consumerDuration: createHistogram(m, METRICS.consumerDuration),
  };
  const pending = createObservableGauge(m, METRICS.consumerPending);
  const ackPending = createObservableGauge(m, METRICS.consumerAckPending);
  m.addBatchObservableCallback(
    async (observer) => {
      await Promise.all(
        [...observed.values()].map(async ({ jsm, stream, durable }) => {
          try {
            const info = await jsm.consumers.info(stream, durable);
            const attributes = { [ATTR.consumer]: durable };
            observer.observe(pending, info.num_pending, attributes);
            observer.observe(ackPending, info.num_ack_pending, attributes);
          } catch {
            // The consumer or the connection is gone: no observation rather than a stale one.
          }
        }),
      );
    },
    [pending, ackPending],
  );
  return instruments;
}

interface ObservedConsumer {
  readonly jsm: JetStreamManager;
  readonly stream: string;
  readonly durable: string;
}

const observed = new Map<symbol, ObservedConsumer>();

export interface ConsumerTelemetry {
  /** Counts one message received again (pot.consumer.redeliveries). */
  redelivered(): void;
  /** Stops reporting the consumer. */
  stop(): void;
}

/**
 * Reports a durable consumer: its pending and ack-pending counts (asked of the server at each
 * metric collection) and the redeliveries its runner counts, until stop().
 */
export function observeConsumer(jsm: JetStreamManager, stream: string, durable: string): ConsumerTelemetry {
  const { redeliveries } = eventStoreInstruments();
  const attributes = { [ATTR.consumer]: durable };
  // A series that exists from the start reads 0 rather than "no data" until something happens.
  redeliveries.add(0, attributes);
  const key = Symbol(durable);
  observed.set(key, { jsm, stream, durable });
  return {
    redelivered: () => redeliveries.add(1, attributes),
    stop: () => observed.delete(key),
  };
}
