import type { JetStreamManager } from "@nats-io/jetstream";
import { isJetStreamNotFound, streamNames, type ServiceName, type StoredEvent } from "@pot/event-store";
import type { RunningProjection } from "./read-models.js";

export interface ConsistencyGateOptions {
  readonly jsm: JetStreamManager;
  readonly namespace: string;
  /** The service the gate answers for. */
  readonly service: ServiceName;
  /** The service's projection runners, by the stream each applies. */
  readonly projections: readonly RunningProjection[];
  /** The durable consumers through which the service reacts to a stream (its own included). */
  readonly reactions: readonly { readonly source: ServiceName; readonly durable: string }[];
  /** The server's cap on one call's wait, whatever its deadline (CONSISTENCY_WAIT_MAX_MS). */
  readonly maxWaitMs?: number;
}

/**
 * How often JetStream is asked about a reaction's durable consumer while calls wait on it: one
 * request per interval for the whole service, however many calls wait (they share its answer).
 */
const ASK_EVERY_MS = 250;

/**
 * One request at a time for a value many callers want, each needing one fetched after it asked:
 * a caller joins the fetch in flight if it started after the caller asked, else the single next
 * fetch, which everyone queued behind the one in flight shares. So N waiting calls cost one request
 * per round trip, not N.
 */
export class SharedFetch<T> {
  private ticket = 0;
  private current: { readonly startedAt: number; readonly promise: Promise<T> } | undefined;
  private queued: Promise<T> | undefined;
  /** Requests actually sent (for tests and metrics). */
  fetches = 0;

  constructor(private readonly fetch: () => Promise<T>) {}

  /** A value fetched after this call. */
  get(): Promise<T> {
    const askedAt = ++this.ticket;
    const current = this.current;
    if (current === undefined) return this.start();
    if (current.startedAt > askedAt) return current.promise;
    this.queued ??= current.promise.then(
      () => this.startQueued(),
      () => this.startQueued(),
    );
    return this.queued;
  }

  private startQueued(): Promise<T> {
    this.queued = undefined;
    return this.start();
  }

  private start(): Promise<T> {
    this.fetches++;
    const startedAt = ++this.ticket;
    const promise = this.fetch();
    const entry = { startedAt, promise };
    this.current = entry;
    const clear = () => {
      if (this.current === entry) this.current = undefined;
    };
    promise.then(clear, clear);
    return promise;
  }
}

/**
 * Decides when a service's read models reflect an event of some stream, and everything the service
 * did in reaction to it, for read-your-writes across services (a consistency token "<stream>:<seq>"):
 *
 * 1. every projection that applies that stream has applied `seq`;
 * 2. every reaction to that stream has handled everything up to `seq`;
 * 3. then the projections of the service's own stream have applied everything on that stream at
 *    that moment, which includes whatever the reactions appended.
 *
 * Steps 1 and 3 wait on the runners. For step 2 each reaction's handler is wrapped (`track`), so
 * the gate knows which deliveries are done; JetStream's view of the durable consumer (its ack floor,
 * or nothing pending at all) settles what this process has not seen: events handled before it
 * started, a sequence the reaction's subject filter leaves out, or events delivered to another
 * replica sharing the consumer. This process's own deliveries answer alone only as far as they are
 * every delivery the consumer made (their delivery sequences have no gap): past a gap, another
 * replica may still be handling an earlier event, and only the ack floor can tell.
 */
export class ConsistencyGate {
  private readonly own: readonly RunningProjection[];
  private readonly progress = new Map<ServiceName, ReactionProgress>();
  /** The own stream's last sequence, asked once for every call waiting at that moment. */
  private readonly ownLastSeq: SharedFetch<number>;
  readonly maxWaitMs: number | undefined;

  constructor(private readonly options: ConsistencyGateOptions) {
    this.maxWaitMs = options.maxWaitMs;
    this.own = options.projections.filter((p) => p.source === options.service);
    const ownStream = streamNames(options.namespace, options.service).stream;
    this.ownLastSeq = new SharedFetch(async () => (await options.jsm.streams.info(ownStream)).state.last_seq);
    for (const reaction of options.reactions) {
      this.progress.set(reaction.source, new ReactionProgress(options, reaction));
    }
  }

  /** The read model of the service's own stream, as `min_sequence` waits for it. */
  get projection() {
    const own = this.own;
    return {
      position: () => Math.min(...own.map((p) => p.runner.position())),
      waitFor: async (seq: number, timeoutMs: number) =>
        (await Promise.all(own.map((p) => p.runner.waitFor(seq, timeoutMs)))).every(Boolean),
    };
  }

  /** Wraps the handler of the reaction to `source`, so that the gate sees each event handled. */
  track<T>(source: ServiceName, handle: (event: StoredEvent) => Promise<T>): (event: StoredEvent) => Promise<T> {
    const progress = this.progress.get(source);
    if (!progress) throw new Error(`the gate of ${this.options.service} has no reaction to ${source}`);
    return (event) => progress.handle(event, handle);
  }

  follows(stream: string): boolean {
    return (
      stream === this.options.service ||
      this.options.projections.some((p) => p.source === stream) ||
      this.progress.has(stream as ServiceName)
    );
  }

  async waitFor(target: { stream: string; seq: number }, timeoutMs: number): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    const remaining = () => Math.max(0, deadline - Date.now());
    for (const { source, name, runner } of this.options.projections) {
      if (source !== target.stream) continue;
      if (!(await runner.waitFor(target.seq, remaining()))) {
        return `the ${name} read model has applied the ${source} stream up to ${runner.position()}, not yet ${target.seq}`;
      }
    }
    const reaction = this.progress.get(target.stream as ServiceName);
    if (!reaction) return undefined;
    if (!(await reaction.handled(target.seq, deadline))) {
      return `the ${this.options.service} service has not yet handled ${target.stream} event ${target.seq}`;
    }
    const appended = await this.ownLastSeq.get();
    for (const { name, runner } of this.own) {
      if (!(await runner.waitFor(appended, remaining()))) {
        return `the ${name} read model has applied up to ${runner.position()}, not yet ${appended}`;
      }
    }
    return undefined;
  }
}

/** What one reaction of this process has handled, as its deliveries come and go. */
class ReactionProgress {
  private readonly inFlight = new Map<number, number>();
  /** Deliveries that failed: JetStream redelivers them later, out of order. */
  private readonly failed = new Set<number>();
  private highest = 0;
  private first = 0;
  /**
   * The consumer's deliveries up to this delivery sequence were all made to this process or are
   * acknowledged (JetStream's ack floor); undefined until the first delivery that carries one.
   */
  private deliveredThrough: number | undefined;
  /** Stream sequence up to which this process's deliveries tell the whole story (see watermark). */
  private coveredThrough = 0;
  /** Deliveries past deliveredThrough (a gap before them): delivery sequence -> stream sequence. */
  private readonly ahead = new Map<number, number>();
  /** False while a delivery without a delivery sequence was seen (an event fed by hand): no gap check. */
  private sequenced = true;
  /** True once JetStream showed nothing older than this process's first delivery outstanding. */
  private trusted = false;
  private readonly listeners = new Set<() => void>();
  private readonly stream: string;
  /** The durable consumer as JetStream last showed it, shared by every waiting call. */
  private readonly view: SharedFetch<ConsumerView | undefined>;
  private lastView: { readonly at: number; readonly promise: Promise<ConsumerView | undefined> } | undefined;

  constructor(
    private readonly options: ConsistencyGateOptions,
    private readonly reaction: { readonly source: ServiceName; readonly durable: string },
  ) {
    this.stream = streamNames(options.namespace, reaction.source).stream;
    this.view = new SharedFetch(() => this.fetchView());
  }

  async handle<T>(event: StoredEvent, handle: (event: StoredEvent) => Promise<T>): Promise<T> {
    const { seq } = event;
    if (this.first === 0) this.first = seq;
    this.highest = Math.max(this.highest, seq);
    this.delivered(event.deliverySeq, seq);
    this.inFlight.set(seq, (this.inFlight.get(seq) ?? 0) + 1);
    let ok = false;
    try {
      const result = await handle(event);
      ok = true;
      return result;
    } finally {
      const left = (this.inFlight.get(seq) ?? 1) - 1;
      if (left > 0) this.inFlight.set(seq, left);
      else this.inFlight.delete(seq);
      if (ok) this.failed.delete(seq);
      else this.failed.add(seq);
      for (const listener of [...this.listeners]) listener();
    }
  }

  /** Notes a delivery: the deliveries without a gap before them extend what this process can vouch for. */
  private delivered(deliverySeq: number | undefined, seq: number): void {
    if (deliverySeq === undefined) {
      this.sequenced = false;
      return;
    }
    this.deliveredThrough ??= deliverySeq - 1;
    if (deliverySeq <= this.deliveredThrough) return;
    this.ahead.set(deliverySeq, seq);
    this.advance();
  }

  private advance(): void {
    if (this.deliveredThrough === undefined) return;
    for (const [delivery, seq] of this.ahead) {
      if (delivery > this.deliveredThrough) continue;
      this.coveredThrough = Math.max(this.coveredThrough, seq);
      this.ahead.delete(delivery);
    }
    for (let next = this.ahead.get(this.deliveredThrough + 1); next !== undefined;) {
      this.deliveredThrough++;
      this.coveredThrough = Math.max(this.coveredThrough, next);
      this.ahead.delete(this.deliveredThrough);
      next = this.ahead.get(this.deliveredThrough + 1);
    }
  }

  /**
   * Everything up to it is handled, as far as this process knows alone: what it was handed is done,
   * and no other process was handed anything it has not seen acknowledged (see coveredThrough).
   */
  private watermark(): number {
    let lowest = Infinity;
    for (const seq of this.inFlight.keys()) lowest = Math.min(lowest, seq);
    for (const seq of this.failed) lowest = Math.min(lowest, seq);
    const own = lowest === Infinity ? this.highest : lowest - 1;
    return this.sequenced ? Math.min(own, this.coveredThrough) : own;
  }

  /** True once every event of the stream up to `seq` that the reaction follows is handled. */
  async handled(seq: number, deadline: number): Promise<boolean> {
    let askedAt = -Infinity;
    for (;;) {
      if (this.trusted && this.watermark() >= seq) return true;
      if (Date.now() - askedAt >= ASK_EVERY_MS) {
        askedAt = Date.now();
        if (this.confirmedBy(await this.recentView(), seq)) return true;
        if (this.trusted && this.watermark() >= seq) return true;
      }
      const waitMs = Math.min(ASK_EVERY_MS, deadline - Date.now());
      if (waitMs <= 0) return false;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.listeners.delete(done);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        this.listeners.add(done);
      });
    }
  }

  /** The consumer's view, fetched at most once per ASK_EVERY_MS for all waiting calls together. */
  private recentView(): Promise<ConsumerView | undefined> {
    const last = this.lastView;
    if (last && Date.now() - last.at < ASK_EVERY_MS) return last.promise;
    const promise = this.view.get();
    this.lastView = { at: Date.now(), promise };
    return promise;
  }

  private confirmedBy(view: ConsumerView | undefined, seq: number): boolean {
    if (view === undefined) return false;
    if (!this.trusted && this.first > 0 && view.ackFloor >= this.first - 1) this.trusted = true;
    // Acknowledged deliveries close the gaps other replicas left before them.
    if (this.deliveredThrough !== undefined && view.ackFloorDelivery > this.deliveredThrough) {
      this.deliveredThrough = view.ackFloorDelivery;
      this.coveredThrough = Math.max(this.coveredThrough, view.ackFloor);
      this.advance();
    }
    if (view.ackFloor >= seq) return true;
    if (!view.idle) return false;
    // Nothing left to handle, as far as the stream goes: does it go as far as `seq`?
    return view.streamLastSeq >= seq;
  }

  private async fetchView(): Promise<ConsumerView | undefined> {
    try {
      const info = await this.options.jsm.consumers.info(this.stream, this.reaction.durable);
      const idle = info.num_ack_pending === 0 && info.num_pending === 0;
      return {
        ackFloor: info.ack_floor.stream_seq,
        ackFloorDelivery: info.ack_floor.consumer_seq,
        idle,
        streamLastSeq: idle ? (await this.options.jsm.streams.info(this.stream)).state.last_seq : 0,
      };
    } catch (error) {
      // The reaction has not started yet (the services start in any order): nothing is handled.
      if (isJetStreamNotFound(error)) return undefined;
      throw error;
    }
  }
}

interface ConsumerView {
  readonly ackFloor: number;
  /** The delivery sequence of the ack floor: every delivery up to it is acknowledged. */
  readonly ackFloorDelivery: number;
  /** Nothing pending or unacknowledged. */
  readonly idle: boolean;
  /** The source stream's last sequence, when idle. */
  readonly streamLastSeq: number;
}
