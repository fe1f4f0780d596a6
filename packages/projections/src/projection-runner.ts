import { setImmediate, setTimeout as sleep } from "node:timers/promises";
import { AckPolicy, DeliverPolicy, type ConsumerInfo, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { sql, type Kysely } from "kysely";
import {
  decodeEnvelope,
  DEFAULT_DEAD_LETTER_AFTER,
  immediateKindOf,
  poisonOf,
  reasonOf,
  type DeadLetterReasonKind,
  type DeadLetters,
  ensureDurableConsumer,
  observeConsumer,
  PULL_EXPIRES_MS,
  silentLogger,
  type DurableConsumerOptions,
  type EventStore,
  type Logger,
  type StoredEvent,
} from "@pot/event-store";
import { ATTR, extractContext, linksFrom } from "@pot/telemetry";
import { applyThrough, type Projection } from "./apply-batch.js";
import { readCheckpoint } from "./checkpoint.table.js";
import { StaleCheckpointError } from "./errors.js";
import { Inbox } from "./inbox.js";
import { LeaderLock } from "./leader-lock.js";
import { projectionInstruments, tracer } from "./telemetry.js";
import { Waiters } from "./waiters.js";

export interface ProjectionRunner {
  /** Stream sequence of the last committed batch. */
  position(): number;
  /** True once position() reaches `seq`; false after `timeoutMs` or when the runner stops first. */
  waitFor(seq: number, timeoutMs: number): Promise<boolean>;
  /** True while this runner is the projection's leader (holds its lock) and applies events. */
  isLeader(): boolean;
  /** Stops pulling, finishes the batch in hand, releases the lock and returns. */
  stop(): Promise<void>;
}

export interface BatchInfo {
  /** Messages in the batch, including redeliveries and undecodable ones. */
  readonly size: number;
  /** Events matching the consumer not yet applied: pending on the server plus received and waiting. */
  readonly lagEvents: number;
  /** From taking the batch to acknowledging it. */
  readonly ms: number;
  /** Age of the batch's last event when the batch committed; undefined when nothing was applied. */
  readonly lagSeconds: number | undefined;
}

export interface StartProjectionOptions<DB> {
  readonly db: Kysely<DB>;
  /** The store whose connection reads the source stream. */
  readonly store: EventStore;
  readonly sourceStream: string;
  readonly durable: string;
  readonly filterSubject?: string;
  readonly projection: Projection<DB>;
  /** Where events the projection gives up on go (the service's dead-letter stream). */
  readonly deadLetters: DeadLetters;
  /**
   * Attempts an event whose apply fails (for a reason of its own, not the database's) gets before it
   * is dead-lettered and skipped (DEAD_LETTER_AFTER, default 5).
   */
  readonly deadLetterAfter?: number;
  readonly logger?: Logger;
  /**
   * Most messages applied in one transaction (default 5,000). Live traffic makes small batches of
   * what has arrived; a projection catching up (a rebuild, a restart) takes them 5,000 at a time.
   */
  readonly batch?: number;
  readonly onBatch?: (info: BatchInfo) => void;
  /**
   * Elect one leader among the runners of this projection (the replicas of a service) with a
   * Postgres advisory lock (default true): only the leader consumes; the others stand by, follow
   * the checkpoint for position() and waitFor(), and take over when the leader stops or dies.
   */
  readonly leaderLock?: boolean;
  /** How often a standby tries the lock and rereads the checkpoint (default 1000 ms; 50 ms while someone waits). */
  readonly standbyPollMs?: number;
  /** How often the leader checks that the connection holding its lock is alive (default 5000 ms). */
  readonly lockCheckMs?: number;
}

interface Session {
  readonly messages: ConsumerMessages;
  readonly inbox: Inbox<JsMsg>;
  /** Settles when the consume iterator ends, with its error if it failed. */
  readonly pumped: Promise<unknown>;
  /** The consumer's delivery sequence the next message must carry. */
  nextDelivery: number;
  /** Stream sequence of the last message handed to a transaction (ahead of position while one is in flight). */
  scheduled: number;
  /**
   * Stream sequence up to which this session replays what the consumer had delivered before it
   * was restarted from the checkpoint (a rebuild): those batches link to the events' traces.
   */
  readonly replayThrough: number;
}

const ACK_WAIT_MS = 30_000;

/**
 * The event of a message. Its subject and headers are decoded only when asked for: the projections
 * read neither, and decoding them for every message costs a rebuild as much as some payloads.
 */
class MessageEvent implements StoredEvent {
  readonly seq: number;

  constructor(
    readonly message: JsMsg,
    readonly envelope: StoredEvent["envelope"],
  ) {
    this.seq = message.seq;
  }

  get subject(): string {
    return this.message.subject;
  }

  get headers(): StoredEvent["headers"] {
    return this.message.headers;
  }
}

const RETRY_DELAYS_MS = [100, 500, 2_000, 5_000, 10_000];

/** Why a message of a batch is dead-lettered instead of applied. */
interface Rejection {
  readonly kind: DeadLetterReasonKind;
  readonly error: unknown;
}
/** Messages decoded between two turns of the event loop while a batch is prepared. */
const DECODE_SLICE = 50;

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
 * So runners elect a leader with a Postgres advisory lock (see LeaderLock); a standby only follows
 * the checkpoint, so that read-your-writes (waitFor) works on every replica.
 *
 * Poison events are skipped and recorded, never allowed to stop the projection: a message that
 * cannot be decoded, or that the projection's prepare refuses, is dead-lettered at once; when a
 * batch's transaction fails for a reason that is not the database's (a data error such as a NUL in
 * a text column, or an exception of the projection's own), the batch is applied again one event per
 * transaction, and the event that still fails is retried in place up to `deadLetterAfter` times,
 * then dead-lettered and the checkpoint moved past it. Database outages are never blamed on an
 * event: they end the session and are retried for as long as they last.
 *
 * Each batch is applied in a CONSUMER span whose parent is the trace context of its first event
 * (the Postgres writes are its children) and which links to the others; a replay after a restart
 * from the checkpoint links to every event instead, starting a trace of its own.
 */
export async function startProjection<DB>(options: StartProjectionOptions<DB>): Promise<ProjectionRunner> {
  const { db, store, sourceStream: stream, durable, projection } = options;
  const logger = options.logger ?? silentLogger;
  const batch = options.batch ?? 5_000;
  const deadLetterAfter = Math.max(1, options.deadLetterAfter ?? DEFAULT_DEAD_LETTER_AFTER);
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
  const lock = options.leaderLock === false ? undefined : LeaderLock.create(db, projection.name);
  const standbyPollMs = options.standbyPollMs ?? 1_000;
  const lockCheckMs = options.lockCheckMs ?? 5_000;
  const instruments = projectionInstruments();
  // The projection's name is unique within its service only; the durable consumer's names the service too.
  const metricAttributes = { [ATTR.projection]: projection.name, [ATTR.consumer]: durable };
  let position = 0;
  let current: Session | undefined;
  let failures = 0;
  let leaderLost = false;
  const observed = observeConsumer(store.jsm, stream, durable);

  const moveTo = (seq: number) => {
    position = seq;
    waiters.advance(seq);
  };

  /**
   * Restarts the durable consumer right after the checkpoint when it has delivered past it; returns
   * its info and the last sequence it had delivered before (0 when it was not restarted).
   */
  async function alignConsumer(checkpoint: number): Promise<{ info: ConsumerInfo; replayThrough: number }> {
    // A consumer created here delivers from the start of the stream; the checkpoint filter skips
    // what was applied already.
    const info = await ensureDurableConsumer(store.jsm, consumerOptions);
    if (info.delivered.stream_seq <= checkpoint) return { info, replayThrough: 0 };
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
    return {
      info: await ensureDurableConsumer(store.jsm, consumerOptions),
      replayThrough: info.delivered.stream_seq,
    };
  }

  async function open(): Promise<Session> {
    moveTo(await readCheckpoint(db, projection.name));
    const { info, replayThrough } = await alignConsumer(position);
    const consumer = await store.js.consumers.get(stream, durable);
    // Short pull requests (see PULL_EXPIRES_MS): a lost NATS node costs seconds, not the default 30.
    const messages = await consumer.consume({ max_messages: batch, expires: PULL_EXPIRES_MS });
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
    current = {
      messages,
      inbox,
      pumped,
      nextDelivery: info.delivered.consumer_seq + 1,
      scheduled: position,
      replayThrough,
    };
    return current;
  }

  async function close(session: Session): Promise<void> {
    await session.messages.close();
    await session.pumped;
  }

  /**
   * Applies batches until the runner stops (returns) or something fails (throws). Pipelined: while
   * one batch's transaction is in flight, the next batch is taken and decoded (and prepared by the
   * projection); its transaction starts only once the previous one committed and was acknowledged,
   * so at most one transaction per projection is in flight and batches commit in stream order.
   */
  async function drain(session: Session): Promise<void> {
    let inFlight: Promise<void> | undefined;
    try {
      while (!stopping.signal.aborted) {
        const taking = session.inbox.take(batch);
        // A batch in flight that fails ends the session at once, even while no message arrives.
        const messages = await (inFlight ? Promise.race([taking, inFlight.then(() => taking)]) : taking);
        if (messages === undefined || stopping.signal.aborted) break;
        const gap = messages.findIndex(
          (message, index) => message.info.deliverySequence !== session.nextDelivery + index,
        );
        const contiguous = gap < 0 ? messages : messages.slice(0, gap);
        const next = contiguous.length > 0 ? await prepare(contiguous, session) : undefined;
        session.nextDelivery += contiguous.length;
        await inFlight;
        inFlight = undefined;
        if (next) {
          inFlight = commit(next, session);
          // Awaited before the next batch or below; until then a failure must not go unhandled.
          inFlight.catch(() => undefined);
        }
        if (gap >= 0) {
          throw new Error(
            `delivery ${session.nextDelivery} was lost (received ${messages[gap]?.info.deliverySequence} instead)`,
          );
        }
      }
    } catch (error) {
      // The batch in hand is finished (committed and acknowledged, or failed) before the session ends.
      await inFlight?.catch(() => undefined);
      throw error;
    }
    await inFlight;
    if (stopping.signal.aborted) return;
    const error = await session.pumped;
    throw error ?? new Error("the consumer stopped delivering");
  }

  /** A batch taken and decoded, waiting for its transaction. */
  interface Prepared {
    /** When the batch was taken. */
    readonly started: number;
    /** Every message of the batch, acknowledged (or terminated) once it committed. */
    readonly messages: readonly JsMsg[];
    /** The messages past everything scheduled before, in stream order. */
    readonly fresh: readonly JsMsg[];
    readonly events: readonly StoredEvent[];
    /** Messages dead-lettered rather than applied (undecodable, or refused by prepare), with why. */
    readonly rejected: ReadonlyMap<JsMsg, Rejection>;
    /** The checkpoint after the batch: its last fresh message, decodable or not. */
    readonly through: number;
    /** The projection's prepare(events), when it has one. */
    readonly prepared: unknown;
  }

  /**
   * Decodes a batch (no I/O), overlapping the transaction of the batch before. It yields to the
   * event loop every DECODE_SLICE messages, so that the transaction's next statement is sent as soon
   * as Postgres answers the previous one rather than after the whole batch is decoded.
   */
  async function prepare(messages: readonly JsMsg[], session: Session): Promise<Prepared> {
    const started = performance.now();
    // Deliveries are contiguous, so original deliveries arrive in stream order and anything at or
    // below the highest sequence seen is a redelivery of an event applied (or scheduled) already.
    const fresh: JsMsg[] = [];
    let through = Math.max(position, session.scheduled);
    for (const message of messages) {
      if (message.info.redelivered) observed.redelivered();
      if (message.seq <= through) continue;
      through = message.seq;
      fresh.push(message);
    }
    session.scheduled = through;
    let events: StoredEvent[] = [];
    const rejected = new Map<JsMsg, Rejection>();
    for (const [index, message] of fresh.entries()) {
      if (index > 0 && index % DECODE_SLICE === 0) await setImmediate();
      try {
        events.push(new MessageEvent(message, decodeEnvelope(message.data)));
      } catch (error) {
        rejected.set(message, { kind: "undecodable", error });
      }
    }
    let prepared: unknown;
    if (events.length > 0 && projection.prepare) {
      try {
        prepared = projection.prepare(events);
      } catch {
        // prepare refused the batch: the events it refuses on their own are dead-lettered, the
        // others prepared again without them.
        const accepted: StoredEvent[] = [];
        for (const event of events) {
          try {
            projection.prepare([event]);
            accepted.push(event);
          } catch (error) {
            rejected.set((event as MessageEvent).message, { kind: immediateKindOf(error) ?? "invalid", error });
          }
        }
        events = accepted;
        try {
          prepared = events.length > 0 ? projection.prepare(events) : undefined;
        } catch {
          prepared = undefined;
        }
      }
    }
    return { started, messages, fresh, events, rejected, through, prepared };
  }

  /** Dead-letters the batch's rejected messages (before the checkpoint moves past them). */
  async function deadLetterRejected(batch: Prepared): Promise<void> {
    for (const [message, { kind, error }] of batch.rejected) {
      if (message.seq <= position) continue;
      await options.deadLetters.deadLetter(poisonOf(message), { kind, reason: reasonOf(error) }, durable);
    }
  }

  /**
   * Whether a failed transaction may be the fault of an event in it, rather than of the database:
   * a data or constraint error (SQLSTATE classes 22, 23), or an error of the projection's own (no
   * error code) while the database still answers. Connection losses, shutdowns, serialization
   * failures, a stale checkpoint: the database's, retried without blaming any event.
   */
  async function eventMayBeAtFault(error: unknown): Promise<boolean> {
    if (immediateKindOf(error) !== undefined) return true;
    if (error instanceof StaleCheckpointError) return false;
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && /^2[23]/.test(code)) return true;
    if (code !== undefined) return false;
    try {
      await sql`select 1`.execute(db);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Applies a batch whose transaction failed one event per transaction, in stream order, retrying a
   * failing event in place and dead-lettering it after `deadLetterAfter` attempts (at once when it
   * is refused outright). Throws when the database, not an event, is at fault.
   */
  async function applyOneByOne(batch: Prepared): Promise<void> {
    const bySeq = new Map(batch.events.map((event) => [event.seq, event]));
    for (const message of batch.fresh) {
      if (message.seq <= position) continue;
      const event = bySeq.get(message.seq);
      if (event === undefined) {
        // Rejected and dead-lettered already: the checkpoint moves past it.
        moveTo(await applyThrough(db, projection, [], message.seq, position));
        continue;
      }
      for (let attempt = 1; ; attempt++) {
        try {
          moveTo(await applyThrough(db, projection, [event], message.seq, position));
          break;
        } catch (error) {
          if (!(await eventMayBeAtFault(error))) throw error;
          const immediate = immediateKindOf(error);
          if (immediate === undefined && attempt < deadLetterAfter) {
            const retryInMs = RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length) - 1] ?? 10_000;
            logger.warn(
              { ...context, err: error, seq: message.seq, attempt, deadLetterAfter, retryInMs },
              "event failed to apply; retrying it alone",
            );
            await sleep(retryInMs, undefined, { signal: stopping.signal });
            continue;
          }
          await options.deadLetters.deadLetter(
            poisonOf(message, attempt),
            { kind: immediate ?? "failed", reason: reasonOf(error) },
            durable,
          );
          moveTo(await applyThrough(db, projection, [], message.seq, position));
          break;
        }
      }
    }
    if (batch.through > position) moveTo(await applyThrough(db, projection, [], batch.through, position));
  }

  /** Applies a prepared batch and its checkpoint in one transaction, then acknowledges its messages. */
  async function commit(batch: Prepared, session: Session): Promise<void> {
    const { messages, fresh, events, through } = batch;
    const [first, ...rest] = fresh;
    const replay = first !== undefined && first.seq <= session.replayThrough;
    const parent = replay || first === undefined ? ROOT_CONTEXT : extractContext(first.headers);
    const attributes = {
      [ATTR.messagingSystem]: "nats",
      [ATTR.messagingOperationType]: "process",
      [ATTR.messagingOperationName]: "process",
      [ATTR.messagingDestination]: stream,
      [ATTR.messagingConsumerGroup]: durable,
      [ATTR.messagingBatchCount]: messages.length,
      [ATTR.projection]: projection.name,
      [ATTR.replay]: replay,
      ...(first ? { [ATTR.sequence]: first.seq } : {}),
    };
    const links = linksFrom(replay ? fresh : rest);
    const name = `${replay ? "replay" : "project"} ${projection.name}`;
    let lagSeconds: number | undefined;
    await tracer().startActiveSpan(name, { kind: SpanKind.CONSUMER, attributes, links }, parent, async (span) => {
      try {
        await deadLetterRejected(batch);
        if (through > position) {
          try {
            moveTo(await applyThrough(db, projection, events, through, position, batch.prepared));
          } catch (error) {
            if (!(await eventMayBeAtFault(error))) throw error;
            logger.warn(
              { ...context, err: error, from: fresh[0]?.seq, through },
              "batch failed to apply; applying its events one by one to find the poison",
            );
            await applyOneByOne(batch);
          }
        }
        const occurredAt = events.at(-1)?.envelope.occurredAt;
        if (occurredAt) lagSeconds = Math.max(0, (Date.now() - occurredAt.getTime()) / 1_000);
        // Dead-lettered messages too: they are recorded, and the checkpoint is past them.
        for (const message of messages) message.ack();
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        throw error;
      } finally {
        span.end();
      }
    });
    failures = 0;
    const info: BatchInfo = {
      size: messages.length,
      lagEvents: (messages.at(-1)?.info.pending ?? 0) + session.inbox.size,
      ms: performance.now() - batch.started,
      lagSeconds,
    };
    instruments.batchSize.record(info.size, metricAttributes);
    instruments.batchDuration.record(info.ms / 1_000, metricAttributes);
    instruments.lagEvents.record(info.lagEvents, metricAttributes);
    if (lagSeconds !== undefined) instruments.lagSeconds.record(lagSeconds, metricAttributes);
    options.onBatch?.(info);
  }

  /** Applies batches, session after session, until the runner stops or loses the lock. */
  async function run(first: Session | undefined): Promise<void> {
    let next = first;
    while (!stopping.signal.aborted && !leaderLost) {
      let session: Session | undefined;
      let retryInMs = 0;
      try {
        session = next ?? (await open());
        next = undefined;
        await drain(session);
      } catch (error) {
        if (stopping.signal.aborted || leaderLost) break;
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
        current = undefined;
      }
      if (retryInMs > 0) await sleep(retryInMs, undefined, { signal: stopping.signal }).catch(() => undefined);
    }
  }

  /** While leading, checks the lock's connection; a failure ends the current session. */
  async function watchLock(done: AbortSignal): Promise<void> {
    const signal = AbortSignal.any([stopping.signal, done]);
    while (lock && !signal.aborted) {
      await sleep(lockCheckMs, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) return;
      if (await lock.check()) continue;
      leaderLost = true;
      logger.warn({ ...context }, "lost the projection's leader lock; standing by");
      if (current) await current.messages.close().catch(() => undefined);
      return;
    }
  }

  /** Until this runner holds the lock (true) or stops (false), following the checkpoint meanwhile. */
  async function campaign(lock: LeaderLock): Promise<boolean> {
    while (!stopping.signal.aborted) {
      try {
        if (await lock.tryAcquire()) return true;
        moveTo(await readCheckpoint(db, projection.name));
      } catch (error) {
        logger.warn({ ...context, err: error }, "cannot reach Postgres for the projection's leader lock; retrying");
      }
      const pause = waiters.size > 0 ? Math.min(50, standbyPollMs) : standbyPollMs;
      await sleep(pause, undefined, { signal: stopping.signal }).catch(() => undefined);
    }
    return false;
  }

  /** Stands by until leading, leads until the lock is lost, and again, until the runner stops. */
  async function lead(first: Session | undefined): Promise<void> {
    let session = first;
    while (!stopping.signal.aborted) {
      if (session === undefined) {
        if (!lock || !(await campaign(lock))) return;
        logger.info({ ...context }, "took over the projection: leading it");
      }
      leaderLost = false;
      const done = new AbortController();
      const watching = watchLock(done.signal);
      await run(session);
      done.abort();
      await watching;
      session = undefined;
      // Stopped, or NATS closed for good: only a lost lock sends the runner back to standing by.
      if (!leaderLost) return;
    }
  }

  let first: Session | undefined;
  try {
    if (!lock || (await lock.tryAcquire())) {
      first = await open();
      logger.info({ ...context, checkpoint: position, leader: lock !== undefined }, "projection started");
    } else {
      moveTo(await readCheckpoint(db, projection.name));
      logger.info({ ...context, checkpoint: position }, "projection standing by: another runner leads it");
    }
  } catch (error) {
    observed.stop();
    await lock?.release();
    throw error;
  }
  const loop = lead(first);
  let stopped: Promise<void> | undefined;

  return {
    position: () => position,
    waitFor(seq, timeoutMs) {
      return stopping.signal.aborted ? Promise.resolve(position >= seq) : waiters.wait(seq, position, timeoutMs);
    },
    isLeader: () => !stopping.signal.aborted && (lock === undefined || lock.isHeld),
    stop() {
      stopped ??= (async () => {
        stopping.abort();
        if (current) await current.messages.close();
        await loop;
        observed.stop();
        await lock?.release();
        waiters.cancel();
        logger.info({ ...context, checkpoint: position }, "projection stopped");
      })();
      return stopped;
    },
  };
}
