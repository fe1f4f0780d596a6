import { setTimeout as sleep } from "node:timers/promises";
import { AckPolicy, DeliverPolicy, type ConsumerInfo, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import type { Kysely } from "kysely";
import {
  decodeEnvelope,
  ensureDurableConsumer,
  silentLogger,
  type DurableConsumerOptions,
  type EventStore,
  type Logger,
  type StoredEvent,
} from "@pot/event-store";
import { applyThrough, type Projection } from "./apply-batch.js";
import { readCheckpoint } from "./checkpoint.table.js";
import { Inbox } from "./inbox.js";
import { Waiters } from "./waiters.js";

export interface ProjectionRunner {
  /** Stream sequence of the last committed batch. */
  position(): number;
  /** True once position() reaches `seq`; false after `timeoutMs` or when the runner stops first. */
  waitFor(seq: number, timeoutMs: number): Promise<boolean>;
  /** Stops pulling, finishes the batch in hand and returns. */
  stop(): Promise<void>;
}

export interface BatchInfo {
  /** Messages in the batch, including redeliveries and undecodable ones. */
  readonly size: number;
  /** Events matching the consumer not yet applied: pending on the server plus received and waiting. */
  readonly lagEvents: number;
  /** From taking the batch to acknowledging it. */
  readonly ms: number;
}

export interface StartProjectionOptions<DB> {
  readonly db: Kysely<DB>;
  /** The store whose connection reads the source stream. */
  readonly store: EventStore;
  readonly sourceStream: string;
  readonly durable: string;
  readonly filterSubject?: string;
  readonly projection: Projection<DB>;
  readonly logger?: Logger;
  /** Most messages applied in one transaction (default 500). */
  readonly batch?: number;
  readonly onBatch?: (info: BatchInfo) => void;
}

interface Session {
  readonly messages: ConsumerMessages;
  readonly inbox: Inbox<JsMsg>;
  /** Settles when the consume iterator ends, with its error if it failed. */
  readonly pumped: Promise<unknown>;
  /** The consumer's delivery sequence the next message must carry. */
  nextDelivery: number;
}

const ACK_WAIT_MS = 30_000;
const RETRY_DELAYS_MS = [100, 500, 2_000, 5_000, 10_000];

/**
 * Applies a stream to Postgres through a durable pull consumer, exactly once: each batch of
 * messages is applied and the checkpoint moved in one transaction, then the messages are acked.
 * A crash between commit and ack redelivers them, and the checkpoint filter makes that a no-op.
 *
 * The Postgres checkpoint, not the consumer, is the source of truth. JetStream redelivers an
 * unacked message only after later ones, which the checkpoint would then hide; so nothing is ever
 * nacked. Instead any failure (database error, a delivery lost in transit, the consumer gone) ends
 * the session, and the next one, after a growing pause, re-reads the checkpoint and restarts the
 * durable consumer from it whenever the consumer has delivered past it. The same check replays a
 * stream into a projection whose schema was dropped to be rebuilt.
 *
 * One runner per projection at a time: two would split the deliveries and each restart the other.
 */
export async function startProjection<DB>(options: StartProjectionOptions<DB>): Promise<ProjectionRunner> {
  const { db, store, sourceStream: stream, durable, projection } = options;
  const logger = options.logger ?? silentLogger;
  const batch = options.batch ?? 500;
  const context = { projection: projection.name, stream, durable };
  const consumerOptions: DurableConsumerOptions = {
    stream,
    durable,
    ...(options.filterSubject ? { filterSubject: options.filterSubject } : {}),
    ackWaitMs: ACK_WAIT_MS,
    maxAckPending: Math.max(1_000, batch * 4),
  };
  const waiters = new Waiters();
  const stopping = new AbortController();
  let position = 0;
  let current: Session | undefined;
  let failures = 0;

  const moveTo = (seq: number) => {
    position = seq;
    waiters.advance(seq);
  };

  /** Restarts the durable consumer right after the checkpoint when it has delivered past it. */
  async function alignConsumer(checkpoint: number): Promise<ConsumerInfo> {
    // A consumer created here delivers from the start of the stream; the checkpoint filter skips
    // what was applied already.
    const info = await ensureDurableConsumer(store.jsm, consumerOptions);
    if (info.delivered.stream_seq <= checkpoint) return info;
    logger.info(
      { ...context, delivered: info.delivered.stream_seq, checkpoint },
      "consumer is past the checkpoint; restarting it from the checkpoint",
    );
    await store.jsm.consumers.delete(stream, durable);
    await store.jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: checkpoint + 1,
      ack_wait: ACK_WAIT_MS * 1_000_000,
      max_deliver: -1,
      max_ack_pending: consumerOptions.maxAckPending,
      ...(options.filterSubject ? { filter_subject: options.filterSubject } : {}),
    });
    return ensureDurableConsumer(store.jsm, consumerOptions);
  }

  async function open(): Promise<Session> {
    moveTo(await readCheckpoint(db, projection.name));
    const info = await alignConsumer(position);
    const consumer = await store.js.consumers.get(stream, durable);
    const messages = await consumer.consume({ max_messages: batch });
    const inbox = new Inbox<JsMsg>();
    const pumped = (async () => {
      for await (const message of messages) inbox.push(message);
    })().then(
      () => inbox.close(),
      (error: unknown) => {
        inbox.close();
        return error;
      },
    );
    current = { messages, inbox, pumped, nextDelivery: info.delivered.consumer_seq + 1 };
    return current;
  }

  async function close(session: Session): Promise<void> {
    await session.messages.close();
    await session.pumped;
  }

  /** Applies batches until the runner stops (returns) or something fails (throws). */
  async function drain(session: Session): Promise<void> {
    while (!stopping.signal.aborted) {
      const messages = await session.inbox.take(batch);
      if (messages === undefined || stopping.signal.aborted) break;
      const gap = messages.findIndex(
        (message, index) => message.info.deliverySequence !== session.nextDelivery + index,
      );
      const contiguous = gap < 0 ? messages : messages.slice(0, gap);
      if (contiguous.length > 0) await handle(contiguous, session);
      session.nextDelivery += contiguous.length;
      if (gap >= 0) {
        throw new Error(
          `delivery ${session.nextDelivery} was lost (received ${messages[gap]?.info.deliverySequence} instead)`,
        );
      }
    }
    if (stopping.signal.aborted) return;
    const error = await session.pumped;
    throw error ?? new Error("the consumer stopped delivering");
  }

  async function handle(messages: readonly JsMsg[], session: Session): Promise<void> {
    const started = performance.now();
    const events: StoredEvent[] = [];
    const undecodable = new Set<JsMsg>();
    // Deliveries are contiguous, so original deliveries arrive in stream order and anything at or
    // below the highest sequence seen is a redelivery of an event applied already.
    let through = position;
    for (const message of messages) {
      if (message.seq <= through) continue;
      through = message.seq;
      try {
        events.push({
          seq: message.seq,
          subject: message.subject,
          envelope: decodeEnvelope(message.data),
          headers: message.headers,
        });
      } catch (error) {
        logger.error(
          { ...context, err: error, seq: message.seq, subject: message.subject },
          "undecodable event terminated; the checkpoint moves past it",
        );
        undecodable.add(message);
      }
    }
    if (through > position) moveTo(await applyThrough(db, projection, events, through, position));
    for (const message of messages) {
      // No reason given: nats-server 2.9 does not recognise "+TERM <reason>" and leaves the message pending.
      if (undecodable.has(message)) message.term();
      else message.ack();
    }
    failures = 0;
    options.onBatch?.({
      size: messages.length,
      lagEvents: (messages.at(-1)?.info.pending ?? 0) + session.inbox.size,
      ms: performance.now() - started,
    });
  }

  async function run(first: Session): Promise<void> {
    let next: Session | undefined = first;
    while (!stopping.signal.aborted) {
      let session: Session | undefined;
      let retryInMs = 0;
      try {
        session = next ?? (await open());
        next = undefined;
        await drain(session);
      } catch (error) {
        if (stopping.signal.aborted) break;
        if (store.nc.isClosed()) {
          logger.error({ ...context, err: error }, "NATS connection closed; projection stopped");
          break;
        }
        failures++;
        retryInMs = RETRY_DELAYS_MS[Math.min(failures, RETRY_DELAYS_MS.length) - 1] ?? 10_000;
        logger.warn(
          { ...context, err: error, attempt: failures, retryInMs },
          "projection failed; restarting from the checkpoint",
        );
      } finally {
        if (session) await close(session);
      }
      if (retryInMs > 0) await sleep(retryInMs, undefined, { signal: stopping.signal }).catch(() => undefined);
    }
  }

  const first = await open();
  logger.info({ ...context, checkpoint: position }, "projection started");
  const loop = run(first);
  let stopped: Promise<void> | undefined;

  return {
    position: () => position,
    waitFor(seq, timeoutMs) {
      return stopping.signal.aborted ? Promise.resolve(position >= seq) : waiters.wait(seq, position, timeoutMs);
    },
    stop() {
      stopped ??= (async () => {
        stopping.abort();
        if (current) await current.messages.close();
        await loop;
        waiters.cancel();
        logger.info({ ...context, checkpoint: position }, "projection stopped");
      })();
      return stopped;
    },
  };
}
