import { context as otelContext } from "@opentelemetry/api";
import { ConcurrencyError } from "@pot/mechanism";
import type { Envelope } from "@pot/contracts";
import { ATTR } from "@pot/telemetry";
import type { EventBody } from "./codec.js";
import { envelopeOf, type AppendOptions, type EventStore } from "./event-store.js";
import { silentLogger, type Logger } from "./logger.js";
import { eventStoreInstruments } from "./telemetry.js";

/** How one kind of aggregate maps between its domain events and the wire. */
export interface AggregateType<S, E> {
  /** Subject token, e.g. "game" in "pot.adjudicator.game.<id>". */
  readonly name: string;
  initial(id: string): S;
  evolve(state: S, event: E): S;
  /** The domain event in an envelope, or undefined when it is not one of this aggregate's. */
  fromWire(envelope: Envelope): E | undefined;
  toWire(event: E): EventBody;
}

export interface CommandContext {
  /** The request id of the command, or the id of the event that caused it. */
  readonly causationId: string;
  readonly correlationId?: string;
  readonly now: Date;
  /** Extra headers for every append (the active trace context is added by the store). */
  readonly headers?: Record<string, string>;
}

export interface ExecuteResult<S, E> {
  readonly state: S;
  /** Stream sequence of the aggregate's last event after the command. */
  readonly seq: number;
  readonly events: readonly E[];
  /** True when the causation had already been applied: nothing new was appended. */
  readonly replayed: boolean;
}

interface Entry<S> {
  /** The state as of `seq`: only acknowledged appends are in it. */
  state: S;
  seq: number;
  /** Recent causation ids applied to this aggregate, with the sequence they produced. */
  causations: Map<string, number>;
  /** Pipelined repositories: appends issued and not yet settled, oldest first. */
  inFlight: InFlight<S>[];
  /** Causations of the appends in flight. */
  inFlightCausations: Set<string>;
  /** An append in flight failed: the next command settles the rest and catches up first. */
  broken: boolean;
  /**
   * Not read from the log: a cache miss is assumed to be a new aggregate, which saves a read
   * for every aggregate's first command. An append is conditional on the subject being empty, so
   * the assumption is checked by the broker; a refusal or a no-op decided on it is not trusted,
   * and the aggregate is read before deciding again.
   */
  assumed: boolean;
}

interface InFlight<S> {
  /** The state once this append (and every one before it) is stored. */
  readonly state: S;
  readonly msgId: string;
  readonly causationId: string;
  /** Settles when the broker answered; never rejects. */
  readonly settled: Promise<unknown>;
}

type Issued<S, E> =
  | { readonly kind: "done"; readonly result: ExecuteResult<S, E> }
  | { readonly kind: "issued"; readonly confirmed: Promise<ExecuteResult<S, E> | "duplicate"> };

export interface RepositoryOptions {
  readonly maxCached?: number;
  readonly maxAttempts?: number;
  readonly maxCausations?: number;
  readonly logger?: Logger;
  /** Called on every optimistic-concurrency conflict (also counted in pot.eventstore.conflicts). */
  readonly onConflict?: (aggregateType: string) => void;
  /**
   * Appends one aggregate may have in flight at once (default 1: each command waits for the
   * previous one's acknowledgement). Above 1, a command is decided on the state its predecessors
   * will produce and published at once, chained to the previous append with
   * Nats-Expected-Last-Msg-Id: it is stored only if the stream's last message is its predecessor,
   * so a failed link fails every later one and each of those commands is decided again. The chain
   * names the stream's last message, so pipeline only an aggregate that is alone on its stream
   * (appends to other subjects in between would be refused as conflicts and retried).
   */
  readonly pipeline?: number;
}

/**
 * load -> decide -> append, with the aggregate's state cached in memory. Commands on one aggregate
 * are serialised in this process; between processes, the expected subject sequence catches a stale
 * cache, which is then caught up and the command decided again, a bounded number of times.
 */
export class AggregateRepository<S, E> {
  private readonly cache = new Map<string, Entry<S>>();
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Pipelined appends waiting for the end of the event loop's turn (see sendSoon). */
  private readonly outbox: (() => void)[] = [];
  private outboxScheduled: NodeJS.Immediate | undefined;
  private readonly maxCached: number;
  private readonly maxAttempts: number;
  private readonly maxCausations: number;
  private readonly maxInFlight: number;
  private readonly logger: Logger;

  constructor(
    readonly store: EventStore,
    readonly type: AggregateType<S, E>,
    private readonly options: RepositoryOptions = {},
  ) {
    this.maxCached = options.maxCached ?? 50_000;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.maxCausations = options.maxCausations ?? 1_000;
    this.maxInFlight = Math.max(1, options.pipeline ?? 1);
    this.logger = options.logger ?? silentLogger;
    // The series exists from the start: 0 conflicts rather than "no data".
    eventStoreInstruments().conflicts.add(0, { [ATTR.aggregate]: type.name });
  }

  subject(id: string): string {
    return this.store.subject(this.type.name, id);
  }

  /** The aggregate's current state as far as this process knows it, caught up with the log. */
  async load(id: string): Promise<{ state: S; seq: number }> {
    return this.serialised(id, async () => {
      const entry = await this.catchUp(id);
      return { state: entry.state, seq: entry.seq };
    });
  }

  /**
   * The state this process last knew, without asking the log: may be behind other replicas. For
   * facts that never change once recorded (a policy version), it saves a read per use.
   */
  known(id: string): S | undefined {
    const entry = this.cache.get(id);
    return entry === undefined || entry.assumed ? undefined : entry.state;
  }

  async execute(id: string, context: CommandContext, decide: (state: S) => readonly E[]): Promise<ExecuteResult<S, E>> {
    if (this.maxInFlight > 1) return this.executePipelined(id, context, decide);
    return this.serialised(id, async () => {
      let entry = this.cache.get(id) ?? this.assumeNew(id);
      let fresh = false;
      for (let attempt = 1; ; attempt++) {
        const seen = entry.causations.get(context.causationId);
        if (seen !== undefined) return { state: entry.state, seq: entry.seq, events: [], replayed: true };
        let events: readonly E[];
        try {
          events = decide(entry.state);
        } catch (error) {
          // A refusal decided on a cached state may be stale (another replica moved on): decide
          // once more on the caught-up state before answering.
          if (fresh) throw error;
          entry = await this.catchUp(id);
          fresh = true;
          continue;
        }
        if (events.length === 0 && entry.assumed) {
          entry = await this.catchUp(id);
          fresh = true;
          continue;
        }
        try {
          return await this.append(id, entry, events, context);
        } catch (error) {
          if (!(error instanceof ConcurrencyError)) {
            this.cache.delete(id);
            throw error;
          }
          if (entry.assumed) {
            // Not a new aggregate after all: read it and decide again (not a conflict).
            entry = await this.catchUp(id);
            fresh = true;
            continue;
          }
          this.conflicted(id, attempt, error);
          entry = await this.catchUp(id);
          fresh = true;
        }
      }
    });
  }

  private conflicted(id: string, attempt: number, error: unknown): void {
    eventStoreInstruments().conflicts.add(1, { [ATTR.aggregate]: this.type.name });
    this.options.onConflict?.(this.type.name);
    if (attempt >= this.maxAttempts) {
      throw new ConcurrencyError(
        `${this.type.name} ${id} kept changing concurrently; gave up after ${attempt} attempts`,
        {
          cause: error,
        },
      );
    }
    this.logger.debug({ aggregate: this.type.name, id, attempt }, "concurrent change, catching up");
  }

  /**
   * Decides and publishes under the aggregate's lock, but waits for the acknowledgement outside
   * it, so the next command is decided while this one's append is on its way.
   */
  private async executePipelined(
    id: string,
    context: CommandContext,
    decide: (state: S) => readonly E[],
  ): Promise<ExecuteResult<S, E>> {
    for (let attempt = 1; ; attempt++) {
      const issued = await this.serialised(id, () => this.issue(id, context, decide));
      if (issued.kind === "done") return issued.result;
      try {
        const result = await issued.confirmed;
        if (result !== "duplicate") return result;
        // Stored by an earlier attempt whose reply was lost: answer from the log.
        return await this.serialised(id, async () => {
          const entry = await this.settledEntry(id);
          return { state: entry.state, seq: entry.seq, events: [], replayed: true };
        });
      } catch (error) {
        if (!(error instanceof ConcurrencyError)) throw error;
        this.conflicted(id, attempt, error);
      }
    }
  }

  /** Waits for every append in flight, then catches up when one of them failed. */
  private async settledEntry(id: string): Promise<Entry<S>> {
    const cached = this.cache.get(id);
    if (!cached) return this.catchUp(id);
    while (cached.inFlight.length > 0) await Promise.all(cached.inFlight.map((item) => item.settled));
    if (!cached.broken) return cached;
    cached.broken = false;
    return this.catchUp(id);
  }

  private async issue(id: string, context: CommandContext, decide: (state: S) => readonly E[]): Promise<Issued<S, E>> {
    let entry = this.cache.get(id) ?? this.assumeNew(id);
    let fresh = false;
    if (entry.broken) {
      entry = await this.settledEntry(id);
      fresh = true;
    }
    for (;;) {
      const tail = entry.inFlight.at(-1);
      if (entry.causations.has(context.causationId)) {
        return { kind: "done", result: { state: entry.state, seq: entry.seq, events: [], replayed: true } };
      }
      let events: readonly E[] | undefined;
      let refusal: unknown;
      try {
        events = decide(tail?.state ?? entry.state);
      } catch (error) {
        refusal = error;
      }
      // Only a command that appends is decided on appends still in flight: a refusal, a no-op or a
      // repeated causation is answered from acknowledged state (caught up once, as it may be stale).
      const speculative = tail !== undefined;
      if (
        speculative &&
        (events === undefined || events.length === 0 || entry.inFlightCausations.has(context.causationId))
      ) {
        entry = await this.settledEntry(id);
        continue;
      }
      if (events === undefined) {
        if (fresh) throw refusal;
        entry = await this.catchUp(id);
        fresh = true;
        continue;
      }
      if (events.length === 0) {
        if (entry.assumed) {
          entry = await this.catchUp(id);
          fresh = true;
          continue;
        }
        return { kind: "done", result: { state: entry.state, seq: entry.seq, events: [], replayed: false } };
      }
      while (entry.inFlight.length >= this.maxInFlight) await entry.inFlight[0]!.settled;
      if (entry.broken || this.cache.get(id) !== entry) {
        entry = await this.settledEntry(id);
        fresh = true;
        continue;
      }
      return { kind: "issued", confirmed: this.publishChained(id, entry, events, context) };
    }
  }

  /**
   * The envelope of a command's `index`-th event. Its id, which is also the msgId, derives from the
   * causation, so a retried command's events are stored once.
   */
  private outgoing(
    id: string,
    index: number,
    event: E,
    context: CommandContext,
  ): { eventId: string; envelope: Envelope } {
    const eventId = `${this.type.name}.${id}/${context.causationId}/${index}`;
    const envelope = envelopeOf({
      event: this.type.toWire(event),
      subject: this.subject(id),
      eventId,
      causationId: context.causationId,
      correlationId: context.correlationId ?? context.causationId,
      occurredAt: context.now,
    });
    return { eventId, envelope };
  }

  /** Publishes a command's events chained to the appends in flight; resolves once all are stored. */
  private publishChained(
    id: string,
    entry: Entry<S>,
    events: readonly E[],
    context: CommandContext,
  ): Promise<ExecuteResult<S, E> | "duplicate"> {
    const subject = this.subject(id);
    const acks: Promise<ExecuteResult<S, E> | "duplicate">[] = [];
    let state = entry.inFlight.at(-1)?.state ?? entry.state;
    for (const [index, event] of events.entries()) {
      const previous = entry.inFlight.at(-1);
      const { eventId, envelope } = this.outgoing(id, index, event, context);
      state = this.type.evolve(state, event);
      const after = state;
      const options: AppendOptions = {
        ...(previous ? { expectedLastMsgId: previous.msgId } : { expectedLastSubjectSequence: entry.seq }),
        msgId: eventId,
        ...(context.headers ? { headers: context.headers } : {}),
      };
      const ack = this.sendSoon(() => this.store.append(subject, envelope, options)).then(
        (result): ExecuteResult<S, E> | "duplicate" => {
          if (result.duplicate) {
            // Not stored now: the stream already had it. What was decided after it cannot be
            // trusted, so the next command reads the aggregate again from the log.
            entry.broken = true;
            this.dropInFlight(entry, item);
            if (this.cache.get(id) === entry) this.cache.delete(id);
            return "duplicate";
          }
          const position = entry.inFlight.indexOf(item);
          // Already acknowledged through a later link of the chain (acks arrive in order, but be sure).
          if (position < 0) return { state: after, seq: result.seq, events, replayed: false };
          // Stored after its predecessors (the chain guarantees it): everything up to it is acknowledged.
          for (const done of entry.inFlight.splice(0, position + 1)) {
            entry.inFlightCausations.delete(done.causationId);
            this.remember(entry, done.causationId, result.seq);
          }
          entry.state = after;
          entry.seq = result.seq;
          entry.assumed = false;
          return { state: after, seq: result.seq, events, replayed: false };
        },
        (error: unknown) => {
          entry.broken = true;
          this.dropInFlight(entry, item);
          throw error;
        },
      );
      const item: InFlight<S> = {
        state: after,
        msgId: eventId,
        causationId: context.causationId,
        settled: ack.then(
          () => undefined,
          () => undefined,
        ),
      };
      entry.inFlight.push(item);
      entry.inFlightCausations.add(context.causationId);
      acks.push(ack);
    }
    return Promise.all(acks).then((results) =>
      results.includes("duplicate") ? "duplicate" : (results.at(-1) as ExecuteResult<S, E>),
    );
  }

  /**
   * Runs `publish` at the end of this turn of the event loop, in order with the others queued: the
   * commands decided in one turn then leave in one socket write instead of one each.
   */
  private sendSoon<T>(publish: () => Promise<T>): Promise<T> {
    const active = otelContext.active();
    return new Promise<T>((resolve, reject) => {
      this.outbox.push(() => otelContext.with(active, publish).then(resolve, reject));
      this.outboxScheduled ??= setImmediate(() => {
        this.outboxScheduled = undefined;
        for (const send of this.outbox.splice(0)) send();
      });
    });
  }

  private dropInFlight(entry: Entry<S>, item: InFlight<S>): void {
    const position = entry.inFlight.indexOf(item);
    if (position >= 0) entry.inFlight.splice(position, 1);
    if (!entry.inFlight.some((other) => other.causationId === item.causationId))
      entry.inFlightCausations.delete(item.causationId);
  }

  private async append(
    id: string,
    entry: Entry<S>,
    events: readonly E[],
    context: CommandContext,
  ): Promise<ExecuteResult<S, E>> {
    const subject = this.subject(id);
    let { state, seq } = entry;
    for (const [index, event] of events.entries()) {
      const { eventId, envelope } = this.outgoing(id, index, event, context);
      const result = await this.store.append(subject, envelope, {
        expectedLastSubjectSequence: seq,
        msgId: eventId,
        ...(context.headers ? { headers: context.headers } : {}),
      });
      if (result.duplicate) {
        // Stored by an earlier attempt whose reply was lost: the cache cannot be trusted.
        this.cache.delete(id);
        const fresh = await this.catchUp(id);
        return { state: fresh.state, seq: fresh.seq, events: [], replayed: true };
      }
      state = this.type.evolve(state, event);
      seq = result.seq;
      entry.state = state;
      entry.seq = seq;
      entry.assumed = false;
      this.remember(entry, context.causationId, seq);
    }
    return { state, seq, events, replayed: false };
  }

  private emptyEntry(id: string, assumed: boolean): Entry<S> {
    return {
      state: this.type.initial(id),
      seq: 0,
      causations: new Map(),
      inFlight: [],
      inFlightCausations: new Set(),
      broken: false,
      assumed,
    };
  }

  /** A cache miss taken for a new aggregate (see Entry.assumed). */
  private assumeNew(id: string): Entry<S> {
    const entry = this.emptyEntry(id, true);
    this.cached(id, entry);
    return entry;
  }

  private cached(id: string, entry: Entry<S>): void {
    this.cache.delete(id);
    this.cache.set(id, entry);
    if (this.cache.size > this.maxCached) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }

  /** Reads what the log has beyond the cached entry (everything on a miss) and folds it in. */
  private async catchUp(id: string): Promise<Entry<S>> {
    const entry = this.cache.get(id) ?? this.emptyEntry(id, false);
    for (const stored of await this.store.read(this.subject(id), entry.seq + 1)) {
      const event = this.type.fromWire(stored.envelope);
      if (event !== undefined) entry.state = this.type.evolve(entry.state, event);
      entry.seq = stored.seq;
      this.remember(entry, stored.envelope.causationId, stored.seq);
    }
    entry.assumed = false;
    this.cached(id, entry);
    return entry;
  }

  private remember(entry: Entry<S>, causationId: string, seq: number): void {
    entry.causations.set(causationId, seq);
    if (entry.causations.size > this.maxCausations) {
      const oldest = entry.causations.keys().next().value;
      if (oldest !== undefined) entry.causations.delete(oldest);
    }
  }

  private serialised<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(id) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(id, settled);
    void settled.then(() => {
      if (this.queues.get(id) === settled) this.queues.delete(id);
    });
    return next;
  }
}
