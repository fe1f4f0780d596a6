import type { Consumer, ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { ATTR, extractContext, secondsSince } from "@pot/telemetry";
import { decodeEnvelope, EVENT_TYPE_HEADER } from "./codec.js";
import {
  DEFAULT_DEAD_LETTER_AFTER,
  immediateKindOf,
  poisonOf,
  reasonOf,
  type DeadLetterReasonKind,
  type DeadLetters,
} from "./dead-letters.js";
import type { EventStore, StoredEvent } from "./event-store.js";
import { silentLogger, type Logger } from "./logger.js";
import { ensureDurableConsumer } from "./streams.js";
import { eventStoreInstruments, natsAttributes, observeConsumer, tracer } from "./telemetry.js";

export interface ReactorOptions {
  /** The store whose connection reads the source stream. */
  readonly store: EventStore;
  readonly sourceStream: string;
  readonly durable: string;
  readonly filterSubject?: string;
  /**
   * Reacts to one event; must be idempotent (a redelivered event may arrive again). Throwing a
   * DeadLetterError (or a ValidationError) dead-letters the event at once; any other error is
   * retried, up to `deadLetterAfter` deliveries.
   */
  handle(event: StoredEvent): Promise<void>;
  /** Where events given up on go (the consuming service's dead-letter stream). */
  readonly deadLetters: DeadLetters;
  /** Deliveries an event whose reaction fails gets before it is dead-lettered (DEAD_LETTER_AFTER, default 5). */
  readonly deadLetterAfter?: number;
  readonly logger?: Logger;
  /** Messages pulled per request. */
  readonly batch?: number;
  /** Events handled at once; events of one aggregate are still handled in order by the repository. */
  readonly concurrency?: number;
}

export interface Reactor {
  /** Stops pulling, finishes the events in hand and returns. */
  stop(): Promise<void>;
}

const REDELIVERY_DELAYS_MS = [100, 500, 2_000, 10_000, 30_000];

/** The pause before delivery `attempt + 1`. */
function retryDelay(attempt: number): number {
  return REDELIVERY_DELAYS_MS[Math.min(attempt, REDELIVERY_DELAYS_MS.length) - 1] ?? 30_000;
}
export const PULL_EXPIRES_MS = 5_000;
/** Longest an acknowledgement waits for others to share its socket write. */
const ACK_DELAY_MS = 10;
const ACK_BATCH = 128;

/**
 * A process manager's loop: a durable pull consumer on another service's stream; each event is
 * handled and then acknowledged, so a crash between the two redelivers it and the idempotent
 * handler produces nothing new. A failed event is redelivered with a growing delay, up to
 * `deadLetterAfter` deliveries; then it is dead-lettered and acknowledged, so one poison event never
 * stalls the consumer. An event that cannot be decoded, or that the handler refuses outright
 * (DeadLetterError, ValidationError), is dead-lettered at once: it can never succeed. A dead letter
 * that cannot be written (NATS trouble) leaves the event unacknowledged, to be redelivered.
 *
 * The consumer's max_deliver stays unlimited: the bound is counted here, so the server never drops
 * an event that was not dead-lettered.
 *
 * Each event is handled in a CONSUMER span whose parent is the trace context the event carries, so
 * the reaction (and what it publishes) continues the trace of whatever published the event.
 */
export async function startReactor(options: ReactorOptions): Promise<Reactor> {
  const logger = options.logger ?? silentLogger;
  await ensureDurableConsumer(options.store.jsm, {
    stream: options.sourceStream,
    durable: options.durable,
    ...(options.filterSubject ? { filterSubject: options.filterSubject } : {}),
    maxAckPending: Math.max(1_000, (options.batch ?? 256) * 2),
  });
  const consumer: Consumer = await options.store.js.consumers.get(options.sourceStream, options.durable);
  // Pull requests that expire after 5 s carry idle heartbeats every 2.5 s: a consumer whose leader
  // moved (a NATS node lost) is noticed and pulled from again within seconds, not the default 30.
  const messages: ConsumerMessages = await consumer.consume({
    max_messages: options.batch ?? 256,
    expires: PULL_EXPIRES_MS,
  });
  const concurrency = options.concurrency ?? 32;
  const deadLetterAfter = Math.max(1, options.deadLetterAfter ?? DEFAULT_DEAD_LETTER_AFTER);
  const inFlight = new Set<Promise<void>>();

  // Acknowledgements are sent together, up to ACK_DELAY_MS after their events were handled: the
  // client writes what is queued in one turn of the event loop as one socket write, and most events
  // need no reaction (they are handled, and acknowledged, at once), so one write carries many acks
  // instead of one each. Nothing is acknowledged before its event was handled; a crash in between
  // redelivers events whose reactions are idempotent.
  const toAck: JsMsg[] = [];
  let ackTimer: NodeJS.Timeout | undefined;
  const flushAcks = (): void => {
    clearTimeout(ackTimer);
    ackTimer = undefined;
    for (const message of toAck.splice(0)) message.ack();
  };
  const ack = (message: JsMsg): void => {
    toAck.push(message);
    if (toAck.length >= ACK_BATCH) flushAcks();
    else ackTimer ??= setTimeout(flushAcks, ACK_DELAY_MS);
  };

  const { consumerDuration } = eventStoreInstruments();
  const consumerAttributes = { [ATTR.consumer]: options.durable };
  const observed = observeConsumer(options.store.jsm, options.sourceStream, options.durable);

  const handleOne = (message: JsMsg): Promise<void> => {
    const type = message.headers?.get(EVENT_TYPE_HEADER) || "event";
    const attributes = natsAttributes("process", {
      [ATTR.messagingDestination]: options.sourceStream,
      [ATTR.messagingConsumerGroup]: options.durable,
      [ATTR.eventType]: type,
      [ATTR.subject]: message.subject,
      [ATTR.sequence]: message.seq,
      [ATTR.deliveryCount]: message.info.deliveryCount,
    });
    if (message.info.redelivered) observed.redelivered();
    const parent = extractContext(message.headers);
    return tracer().startActiveSpan(
      `process ${type}`,
      { kind: SpanKind.CONSUMER, attributes },
      parent,
      async (span) => {
        const started = performance.now();
        let result = "ok";
        try {
          const giveUp = async (kind: DeadLetterReasonKind, error: unknown): Promise<void> => {
            result = "dead_lettered";
            span.recordException(error as Error);
            span.setStatus({ code: SpanStatusCode.ERROR, message: `dead-lettered (${kind})` });
            try {
              await options.deadLetters.deadLetter(
                poisonOf(message),
                { kind, reason: reasonOf(error) },
                options.durable,
              );
              ack(message);
            } catch (failure) {
              logger.error(
                { err: failure, durable: options.durable, seq: message.seq },
                "cannot write the dead letter; the event will be redelivered",
              );
              message.nak(retryDelay(message.info.deliveryCount));
            }
          };
          let stored: StoredEvent;
          try {
            stored = {
              seq: message.seq,
              subject: message.subject,
              envelope: decodeEnvelope(message.data),
              headers: message.headers,
              deliverySeq: message.info.deliverySequence,
            };
          } catch (error) {
            await giveUp("undecodable", error);
            return;
          }
          span.setAttribute(ATTR.messagingMessageId, stored.envelope.eventId);
          try {
            await options.handle(stored);
            ack(message);
          } catch (error) {
            const immediate = immediateKindOf(error);
            if (immediate !== undefined || message.info.deliveryCount >= deadLetterAfter) {
              await giveUp(immediate ?? "failed", error);
              return;
            }
            result = "error";
            span.recordException(error as Error);
            span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
            const delay = retryDelay(message.info.deliveryCount);
            logger.warn(
              {
                err: error,
                durable: options.durable,
                seq: message.seq,
                type: stored.envelope.type,
                attempt: message.info.deliveryCount,
                deadLetterAfter,
              },
              "reaction failed; will be redelivered",
            );
            message.nak(delay);
          }
        } finally {
          consumerDuration.record(secondsSince(started), { ...consumerAttributes, [ATTR.result]: result });
          span.end();
        }
      },
    );
  };

  const loop = (async () => {
    for await (const message of messages) {
      const task = handleOne(message).finally(() => inFlight.delete(task));
      inFlight.add(task);
      if (inFlight.size >= concurrency) await Promise.race(inFlight);
    }
  })();

  return {
    async stop() {
      await messages.close();
      await loop.catch(() => undefined);
      await Promise.allSettled([...inFlight]);
      flushAcks();
      observed.stop();
    },
  };
}
