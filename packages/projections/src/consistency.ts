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
}

/** How often a waiter asks JetStream when what it waits for is not in the reaction's deliveries. */
const ASK_EVERY_MS = 250;

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
 * started, or a sequence the reaction's subject filter leaves out.
 */
export class ConsistencyGate {
  private readonly own: readonly RunningProjection[];
  private readonly progress = new Map<ServiceName, ReactionProgress>();

  constructor(private readonly options: ConsistencyGateOptions) {
    this.own = options.projections.filter((p) => p.source === options.service);
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
    const ownStream = streamNames(this.options.namespace, this.options.service).stream;
    const appended = (await this.options.jsm.streams.info(ownStream)).state.last_seq;
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
  /** True once JetStream showed nothing older than this process's first delivery outstanding. */
  private trusted = false;
  private readonly listeners = new Set<() => void>();
  private readonly stream: string;

  constructor(
    private readonly options: ConsistencyGateOptions,
    private readonly reaction: { readonly source: ServiceName; readonly durable: string },
  ) {
    this.stream = streamNames(options.namespace, reaction.source).stream;
  }

  async handle<T>(event: StoredEvent, handle: (event: StoredEvent) => Promise<T>): Promise<T> {
    const { seq } = event;
    if (this.first === 0) this.first = seq;
    this.highest = Math.max(this.highest, seq);
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

  /** Everything this process was handed up to it is handled. */
  private watermark(): number {
    let lowest = Infinity;
    for (const seq of this.inFlight.keys()) lowest = Math.min(lowest, seq);
    for (const seq of this.failed) lowest = Math.min(lowest, seq);
    return lowest === Infinity ? this.highest : lowest - 1;
  }

  /** True once every event of the stream up to `seq` that the reaction follows is handled. */
  async handled(seq: number, deadline: number): Promise<boolean> {
    let askedAt = -Infinity;
    for (;;) {
      if (this.trusted && this.watermark() >= seq) return true;
      if (Date.now() - askedAt >= ASK_EVERY_MS) {
        askedAt = Date.now();
        if (await this.confirmedByJetStream(seq)) return true;
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

  private async confirmedByJetStream(seq: number): Promise<boolean> {
    try {
      const info = await this.options.jsm.consumers.info(this.stream, this.reaction.durable);
      const floor = info.ack_floor.stream_seq;
      if (!this.trusted && this.first > 0 && floor >= this.first - 1) this.trusted = true;
      if (floor >= seq) return true;
      if (info.num_ack_pending > 0 || info.num_pending > 0) return false;
      // Nothing left to handle, as far as the stream goes: does it go as far as `seq`?
      return (await this.options.jsm.streams.info(this.stream)).state.last_seq >= seq;
    } catch (error) {
      // The reaction has not started yet (the services start in any order): nothing is handled.
      if (isJetStreamNotFound(error)) return false;
      throw error;
    }
  }
}
