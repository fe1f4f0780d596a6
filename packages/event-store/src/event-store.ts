import {
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { SpanKind, SpanStatusCode, type Counter } from "@opentelemetry/api";
import { ConcurrencyError } from "@pot/mechanism";
import { Envelope } from "@pot/contracts";
import { ATTR, createCounter, injectContext, linksFrom, meter, METRICS, secondsSince } from "@pot/telemetry";
import { decodeEnvelope, encodeEnvelope, envelopeHeaders, eventTypeName, type EventBody } from "./codec.js";
import { isWrongLastSequence } from "./errors.js";
import { aggregateIdOf, type StreamNames } from "./naming.js";
import { ensureEventStream, type EventStreamOptions } from "./streams.js";
import { reasonOf, type DeadLetterReasonKind } from "./dead-letters.js";
import { eventStoreInstruments, natsAttributes, tracer, TRACER_NAME } from "./telemetry.js";

export interface StoredEvent {
  readonly seq: number;
  readonly subject: string;
  readonly envelope: Envelope;
  readonly headers: MsgHdrs | undefined;
  /**
   * Set by a durable consumer's delivery (a reactor): its delivery sequence on the consumer, which
   * counts every delivery to every process sharing the consumer, redeliveries included.
   */
  readonly deliverySeq?: number;
}

/**
 * What the stream must hold for the append to be stored: the subject's last sequence, or (to chain
 * appends issued before the previous one is acknowledged) the msgId of the stream's last message.
 */
export type AppendExpectation =
  | {
      /** Stream sequence of the last message on the subject, 0 for "the subject must be empty". */
      readonly expectedLastSubjectSequence: number;
      readonly expectedLastMsgId?: undefined;
    }
  | {
      /** The msgId of the last message of the whole stream (Nats-Expected-Last-Msg-Id). */
      readonly expectedLastMsgId: string;
      readonly expectedLastSubjectSequence?: undefined;
    };

export type AppendOptions = AppendExpectation & {
  /** De-duplication id: a publish with an id seen within the duplicate window is stored once. */
  readonly msgId: string;
  /** Extra headers. The active trace context is added to them (W3C traceparent, tracestate). */
  readonly headers?: Record<string, string>;
};

export interface EventStoreOptions extends Omit<EventStreamOptions, "name" | "subjects"> {
  /** Called for every event this store appended (not for a duplicate the broker dropped): domain metrics. */
  readonly onAppended?: (envelope: Envelope) => void;
}

export interface AppendResult {
  readonly seq: number;
  /** True when the broker had already stored a message with this msgId. */
  readonly duplicate: boolean;
}

export interface NewEnvelope {
  readonly event: EventBody;
  readonly subject: string;
  readonly eventId: string;
  readonly causationId: string;
  readonly correlationId: string;
  readonly occurredAt: Date;
}

/** Builds the envelope of a new event; its type is derived from the event body. */
export function envelopeOf(input: NewEnvelope): Envelope {
  return {
    eventId: input.eventId,
    type: eventTypeName(input.event.$case),
    aggregateId: aggregateIdOf(input.subject),
    causationId: input.causationId,
    correlationId: input.correlationId,
    occurredAt: input.occurredAt,
    event: input.event,
  };
}

/**
 * One service's event log on JetStream: one stream, one subject per aggregate instance. The append
 * is the publish; optimistic concurrency comes from Nats-Expected-Last-Subject-Sequence and
 * idempotency from Nats-Msg-Id.
 */
export class EventStore {
  readonly js: JetStreamClient;

  private constructor(
    readonly nc: NatsConnection,
    readonly jsm: JetStreamManager,
    readonly names: StreamNames,
    private readonly onAppended: ((envelope: Envelope) => void) | undefined,
  ) {
    this.js = jetstream(nc);
  }

  /** Creates or updates the stream (with `replicas`, default 1) and returns its store. */
  static async open(nc: NatsConnection, names: StreamNames, options: EventStoreOptions = {}): Promise<EventStore> {
    const { onAppended, ...stream } = options;
    const jsm = await jetstreamManager(nc);
    await ensureEventStream(jsm, { ...stream, name: names.stream, subjects: [names.all] });
    // Zero from the start, so dashboards and alerts see the series before the first refusal.
    catchUpRefused().add(0, { [ATTR.stream]: names.stream });
    return new EventStore(nc, jsm, names, onAppended);
  }

  subject(aggregateType: string, aggregateId: string): string {
    return `${this.names.prefix}.${aggregateType}.${aggregateId}`;
  }

  /** "game" in "pot.adjudicator.game.<id>". */
  aggregateTypeOf(subject: string): string {
    const rest = subject.startsWith(`${this.names.prefix}.`) ? subject.slice(this.names.prefix.length + 1) : subject;
    const dot = rest.indexOf(".");
    return dot < 0 ? rest : rest.slice(0, dot);
  }

  /**
   * Publishes one event in a PRODUCER span whose context travels in the message's headers, so
   * whoever consumes the event continues this trace.
   */
  async append(subject: string, envelope: Envelope, options: AppendOptions): Promise<AppendResult> {
    const aggregate = this.aggregateTypeOf(subject);
    const attributes = natsAttributes("publish", {
      [ATTR.messagingDestination]: this.names.stream,
      [ATTR.messagingMessageId]: envelope.eventId,
      [ATTR.eventType]: envelope.type,
      [ATTR.aggregate]: aggregate,
      [ATTR.subject]: subject,
      [ATTR.causationId]: envelope.causationId,
      [ATTR.correlationId]: envelope.correlationId,
    });
    return tracer().startActiveSpan(
      `publish ${envelope.type}`,
      { kind: SpanKind.PRODUCER, attributes },
      async (span) => {
        const started = performance.now();
        let result = "ok";
        try {
          const ack = await this.js.publish(subject, encodeEnvelope(envelope), {
            msgID: options.msgId,
            expect:
              options.expectedLastMsgId === undefined
                ? { lastSubjectSequence: options.expectedLastSubjectSequence }
                : { lastMsgID: options.expectedLastMsgId },
            headers: envelopeHeaders(envelope, { ...options.headers, ...injectContext() }),
          });
          span.setAttribute(ATTR.sequence, ack.seq);
          if (ack.duplicate) result = "duplicate";
          else this.onAppended?.(envelope);
          return { seq: ack.seq, duplicate: ack.duplicate };
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
          if (isWrongLastSequence(error)) {
            result = "conflict";
            throw new ConcurrencyError(
              options.expectedLastMsgId === undefined
                ? `${subject} changed concurrently (expected last sequence ${options.expectedLastSubjectSequence})`
                : `${this.names.stream} changed concurrently (expected its last message to be ${options.expectedLastMsgId})`,
              { cause: error },
            );
          }
          result = "error";
          span.recordException(error as Error);
          throw error;
        } finally {
          eventStoreInstruments().publishDuration.record(secondsSince(started), {
            [ATTR.stream]: this.names.stream,
            [ATTR.aggregate]: aggregate,
            [ATTR.result]: result,
          });
          span.end();
        }
      },
    );
  }

  /** Stream sequence of the last event on the subject, 0 when it has none. */
  async lastSequence(subject: string): Promise<number> {
    const message = await this.jsm.streams.getMessage(this.names.stream, { last_by_subj: subject });
    return message?.seq ?? 0;
  }

  /**
   * Every event on the subject with a sequence of at least `fromSeq`, in order. A replay: its span
   * links to the spans that published the events instead of joining their traces. A message that
   * cannot be decoded is left out (see readLog).
   */
  async read(subject: string, fromSeq = 1): Promise<StoredEvent[]> {
    return (await this.readLog(subject, fromSeq)).events;
  }

  /**
   * read(), telling also what was left out: the messages that cannot be decoded (each refused with
   * its error, counted in pot.eventstore.catchup.refused) and the sequence of the last message read,
   * decodable or not (`through`: what an append to the subject must expect).
   */
  async readLog(subject: string, fromSeq = 1): Promise<SubjectLog> {
    const aggregate = this.aggregateTypeOf(subject);
    const attributes = natsAttributes("receive", {
      [ATTR.messagingDestination]: this.names.stream,
      [ATTR.aggregate]: aggregate,
      [ATTR.subject]: subject,
      [ATTR.replay]: true,
    });
    return tracer().startActiveSpan(`replay ${aggregate}`, { attributes }, async (span) => {
      try {
        const log = await this.readEvents(subject, fromSeq);
        span.setAttribute(ATTR.messagingBatchCount, log.events.length);
        span.addLinks(linksFrom(log.events));
        for (const refused of log.refused) {
          this.countRefused(aggregate, "undecodable");
          span.addEvent("refused", { [ATTR.sequence]: refused.seq, "exception.message": refused.reason });
        }
        return log;
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        throw error;
      } finally {
        span.end();
      }
    });
  }

  /** Counts a message an aggregate's catch-up refused (pot.eventstore.catchup.refused). */
  countRefused(aggregate: string, kind: DeadLetterReasonKind): void {
    catchUpRefused().add(1, { [ATTR.stream]: this.names.stream, [ATTR.aggregate]: aggregate, [ATTR.reasonKind]: kind });
  }

  private async readEvents(subject: string, fromSeq: number): Promise<SubjectLog> {
    const last = await this.lastSequence(subject);
    if (last < fromSeq) return { events: [], refused: [], through: 0 };
    const consumer = await this.js.consumers.get(this.names.stream, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: fromSeq,
    });
    const events: StoredEvent[] = [];
    const refused: RefusedMessage[] = [];
    let through = 0;
    const messages = await consumer.consume({ max_messages: 512 });
    try {
      for await (const message of messages) {
        through = message.seq;
        try {
          events.push({
            seq: message.seq,
            subject: message.subject,
            envelope: decodeEnvelope(message.data),
            headers: message.headers,
          });
        } catch (error) {
          refused.push({ seq: message.seq, subject: message.subject, reason: reasonOf(error) });
        }
        if (message.seq >= last) break;
      }
    } finally {
      await messages.close();
    }
    return { events, refused, through };
  }
}

/** A message of a subject's log that could not be read as an event. */
export interface RefusedMessage {
  readonly seq: number;
  readonly subject: string;
  readonly reason: string;
}

export interface SubjectLog {
  /** The events, in order. */
  readonly events: StoredEvent[];
  /** The messages left out: not decodable. */
  readonly refused: RefusedMessage[];
  /** Sequence of the last message read (an event or refused); 0 when none. */
  readonly through: number;
}

let refusedCounter: Counter | undefined;

function catchUpRefused(): Counter {
  refusedCounter ??= createCounter(meter(TRACER_NAME), METRICS.catchUpRefused);
  return refusedCounter;
}
