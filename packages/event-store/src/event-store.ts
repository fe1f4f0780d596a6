import {
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { ConcurrencyError } from "@pot/mechanism";
import { Envelope } from "@pot/contracts";
import { decodeEnvelope, encodeEnvelope, envelopeHeaders, eventTypeName, type EventBody } from "./codec.js";
import { isWrongLastSequence } from "./errors.js";
import { aggregateIdOf, type StreamNames } from "./naming.js";
import { ensureEventStream, type EventStreamOptions } from "./streams.js";

export interface StoredEvent {
  readonly seq: number;
  readonly subject: string;
  readonly envelope: Envelope;
  readonly headers: MsgHdrs | undefined;
}

export interface AppendOptions {
  /** Stream sequence of the last message on the subject, 0 for "the subject must be empty". */
  readonly expectedLastSubjectSequence: number;
  /** De-duplication id: a publish with an id seen within the duplicate window is stored once. */
  readonly msgId: string;
  /** Extra headers, e.g. W3C trace context. */
  readonly headers?: Record<string, string>;
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
  ) {
    this.js = jetstream(nc);
  }

  static async open(
    nc: NatsConnection,
    names: StreamNames,
    options: Omit<EventStreamOptions, "name" | "subjects"> = {},
  ): Promise<EventStore> {
    const jsm = await jetstreamManager(nc);
    await ensureEventStream(jsm, { ...options, name: names.stream, subjects: [names.all] });
    return new EventStore(nc, jsm, names);
  }

  subject(aggregateType: string, aggregateId: string): string {
    return `${this.names.prefix}.${aggregateType}.${aggregateId}`;
  }

  async append(subject: string, envelope: Envelope, options: AppendOptions): Promise<AppendResult> {
    try {
      const ack = await this.js.publish(subject, encodeEnvelope(envelope), {
        msgID: options.msgId,
        expect: { lastSubjectSequence: options.expectedLastSubjectSequence },
        headers: envelopeHeaders(envelope, options.headers),
      });
      return { seq: ack.seq, duplicate: ack.duplicate };
    } catch (error) {
      if (isWrongLastSequence(error)) {
        throw new ConcurrencyError(
          `${subject} changed concurrently (expected last sequence ${options.expectedLastSubjectSequence})`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /** Stream sequence of the last event on the subject, 0 when it has none. */
  async lastSequence(subject: string): Promise<number> {
    const message = await this.jsm.streams.getMessage(this.names.stream, { last_by_subj: subject });
    return message?.seq ?? 0;
  }

  /** Every event on the subject with a sequence of at least `fromSeq`, in order. */
  async read(subject: string, fromSeq = 1): Promise<StoredEvent[]> {
    const last = await this.lastSequence(subject);
    if (last < fromSeq) return [];
    const consumer = await this.js.consumers.get(this.names.stream, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: fromSeq,
    });
    const out: StoredEvent[] = [];
    const messages = await consumer.consume({ max_messages: 512 });
    try {
      for await (const message of messages) {
        out.push({
          seq: message.seq,
          subject: message.subject,
          envelope: decodeEnvelope(message.data),
          headers: message.headers,
        });
        if (message.seq >= last) break;
      }
    } finally {
      await messages.close();
    }
    return out;
  }
}
