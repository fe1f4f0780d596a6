import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import { decodeEnvelope, type StoredEvent } from "@pot/event-store";
import type { SkippedMessage } from "./types.js";

/** Messages buffered ahead of the writer before reading pauses. */
const HIGH_WATER = 7_500;
/** Messages asked for by each pull of the ordered consumer. */
const PULL = 2_500;

/** What take() needs of a message: kept instead of the message, whose objects then die young. */
interface Compact {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
}

type Entry = JsMsg | Compact;

/**
 * A stream read from its start through an ordered consumer (an ephemeral consumer without acks
 * that the client recreates from where it was if a message goes missing), with a bounded buffer so
 * that reading runs ahead of the database writer but never without limit.
 */
export class StreamReader {
  private readonly buffer: Entry[] = [];
  private head = 0;
  private wakeTaker: (() => void) | undefined;
  private wakePump: (() => void) | undefined;
  private failure: unknown;
  private ended = false;
  /** What the server still holds for this consumer beyond the last message received. */
  private serverPending: number;

  private constructor(
    /** The stream read. */
    readonly stream: string,
    private readonly messages: ConsumerMessages,
    pending: number,
    /** Keep only what take() needs of each message, or the message itself (takeRaw()). */
    private readonly compact: boolean,
  ) {
    this.serverPending = pending;
  }

  /**
   * With `compact`, only a message's sequence, subject and data are buffered (for take()), not the
   * message: its objects (headers, reply subject, delivery info) then die young, and the garbage
   * collector does not copy them from one generation to the next while they wait in the buffer.
   */
  static async open(
    js: JetStreamClient,
    stream: string,
    options: { filterSubject?: string; startSeq?: number; batch?: number; compact?: boolean } = {},
  ): Promise<StreamReader> {
    const consumer = await js.consumers.get(stream, {
      ...(options.filterSubject ? { filter_subjects: options.filterSubject } : {}),
      ...(options.startSeq && options.startSeq > 1
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: options.startSeq }
        : { deliver_policy: DeliverPolicy.All }),
    });
    const messages = await consumer.consume({ max_messages: options.batch ?? PULL });
    const reader = new StreamReader(
      stream,
      messages,
      (await consumer.info(true)).num_pending,
      options.compact === true,
    );
    void reader.pump();
    return reader;
  }

  /** Buffered messages not taken yet plus what the server still holds for this consumer. */
  get backlog(): number {
    return this.available() + this.serverPending;
  }

  /**
   * Up to `max` events as soon as at least one is there; an empty batch when the server has nothing
   * more for this consumer and none arrives within `idleMs`. Messages are decoded here, so that
   * decoding overlaps the previous batch's database work; one that cannot be decoded is not an event
   * and is returned in `undecodable` instead (`lastSeq` counts it). `caughtUp`: nothing more is known
   * to exist.
   */
  async take(
    max: number,
    idleMs: number,
  ): Promise<{ events: StoredEvent[]; undecodable: SkippedMessage[]; lastSeq: number; caughtUp: boolean }> {
    const { entries, caughtUp } = await this.takeEntries(max, idleMs);
    const events: StoredEvent[] = [];
    const undecodable: SkippedMessage[] = [];
    for (const entry of entries) {
      try {
        events.push({
          seq: entry.seq,
          subject: entry.subject,
          envelope: decodeEnvelope(entry.data),
          headers: undefined,
        });
      } catch (error) {
        undecodable.push({
          stream: this.stream,
          seq: entry.seq,
          subject: entry.subject,
          reason: `undecodable: ${(error as Error).message}`,
        });
      }
    }
    return { events, undecodable, lastSeq: entries.at(-1)?.seq ?? 0, caughtUp };
  }

  /** take() without decoding, for a reader that must survive a message it cannot decode. */
  async takeRaw(max: number, idleMs: number): Promise<{ messages: JsMsg[]; caughtUp: boolean }> {
    if (this.compact) throw new Error("takeRaw() of a compact reader");
    const { entries, caughtUp } = await this.takeEntries(max, idleMs);
    return { messages: entries as JsMsg[], caughtUp };
  }

  private async takeEntries(max: number, idleMs: number): Promise<{ entries: Entry[]; caughtUp: boolean }> {
    while (this.available() === 0) {
      if (this.failure !== undefined) throw this.failure;
      const waitMs = this.serverPending > 0 ? 5_000 : idleMs;
      const woken = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), waitMs);
        this.wakeTaker = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      this.wakeTaker = undefined;
      if (!woken && this.serverPending === 0) break;
    }
    const taken = this.buffer.slice(this.head, this.head + max);
    this.head += taken.length;
    if (this.head > 50_000) {
      this.buffer.splice(0, this.head);
      this.head = 0;
    }
    if (this.available() < HIGH_WATER / 2) this.wakePump?.();
    return { entries: taken, caughtUp: this.available() === 0 && this.serverPending === 0 };
  }

  async close(): Promise<void> {
    this.ended = true;
    this.wakePump?.();
    await this.messages.close();
  }

  private available(): number {
    return this.buffer.length - this.head;
  }

  private async pump(): Promise<void> {
    try {
      for await (const message of this.messages) {
        this.buffer.push(this.compact ? { seq: message.seq, subject: message.subject, data: message.data } : message);
        this.serverPending = message.info.pending;
        this.wakeTaker?.();
        while (this.available() >= HIGH_WATER && !this.ended) {
          await new Promise<void>((resolve) => (this.wakePump = resolve));
          this.wakePump = undefined;
        }
      }
      if (!this.ended) this.failure = new Error("the ordered consumer stopped delivering");
    } catch (error) {
      this.failure = error;
    }
    this.wakeTaker?.();
  }
}
