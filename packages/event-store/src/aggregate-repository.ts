import { ConcurrencyError } from "@pot/mechanism";
import type { Envelope } from "@pot/contracts";
import { ATTR } from "@pot/telemetry";
import type { EventBody } from "./codec.js";
import { envelopeOf, type EventStore } from "./event-store.js";
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
  state: S;
  seq: number;
  /** Recent causation ids applied to this aggregate, with the sequence they produced. */
  causations: Map<string, number>;
}

export interface RepositoryOptions {
  readonly maxCached?: number;
  readonly maxAttempts?: number;
  readonly maxCausations?: number;
  readonly logger?: Logger;
  /** Called on every optimistic-concurrency conflict (also counted in pot.eventstore.conflicts). */
  readonly onConflict?: (aggregateType: string) => void;
}

/**
 * load -> decide -> append, with the aggregate's state cached in memory. Commands on one aggregate
 * are serialised in this process; between processes, the expected subject sequence catches a stale
 * cache, which is then caught up and the command decided again, a bounded number of times.
 */
export class AggregateRepository<S, E> {
  private readonly cache = new Map<string, Entry<S>>();
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly maxCached: number;
  private readonly maxAttempts: number;
  private readonly maxCausations: number;
  private readonly logger: Logger;

  constructor(
    readonly store: EventStore,
    readonly type: AggregateType<S, E>,
    private readonly options: RepositoryOptions = {},
  ) {
    this.maxCached = options.maxCached ?? 50_000;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.maxCausations = options.maxCausations ?? 1_000;
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

  async execute(id: string, context: CommandContext, decide: (state: S) => readonly E[]): Promise<ExecuteResult<S, E>> {
    return this.serialised(id, async () => {
      const cached = this.cache.get(id);
      let entry = cached ?? (await this.catchUp(id));
      let fresh = cached === undefined;
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
        try {
          return await this.append(id, entry, events, context);
        } catch (error) {
          if (!(error instanceof ConcurrencyError)) {
            this.cache.delete(id);
            throw error;
          }
          eventStoreInstruments().conflicts.add(1, { [ATTR.aggregate]: this.type.name });
          this.options.onConflict?.(this.type.name);
          if (attempt >= this.maxAttempts) {
            throw new ConcurrencyError(
              `${this.type.name} ${id} kept changing concurrently; gave up after ${attempt} attempts`,
              { cause: error },
            );
          }
          this.logger.debug({ aggregate: this.type.name, id, attempt }, "concurrent change, catching up");
          entry = await this.catchUp(id);
          fresh = true;
        }
      }
    });
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
      const eventId = `${this.type.name}.${id}/${context.causationId}/${index}`;
      const envelope = envelopeOf({
        event: this.type.toWire(event),
        subject,
        eventId,
        causationId: context.causationId,
        correlationId: context.correlationId ?? context.causationId,
        occurredAt: context.now,
      });
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
      this.remember(entry, context.causationId, seq);
    }
    return { state, seq, events, replayed: false };
  }

  /** Reads what the log has beyond the cached entry (everything on a miss) and folds it in. */
  private async catchUp(id: string): Promise<Entry<S>> {
    const cached = this.cache.get(id);
    const entry: Entry<S> = cached ?? { state: this.type.initial(id), seq: 0, causations: new Map() };
    for (const stored of await this.store.read(this.subject(id), entry.seq + 1)) {
      const event = this.type.fromWire(stored.envelope);
      if (event !== undefined) entry.state = this.type.evolve(entry.state, event);
      entry.seq = stored.seq;
      this.remember(entry, stored.envelope.causationId, stored.seq);
    }
    this.cache.delete(id);
    this.cache.set(id, entry);
    if (this.cache.size > this.maxCached) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
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
