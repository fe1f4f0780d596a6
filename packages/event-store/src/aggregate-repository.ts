import { context as otelContext } from "@opentelemetry/api";
import { AlreadyExistsError, ConcurrencyError } from "@pot/mechanism";
import type { Envelope } from "@pot/contracts";
import { ATTR } from "@pot/telemetry";
import type { EventBody } from "./codec.js";
import { envelopeOf, type AppendOptions, type EventStore, type StoredEvent } from "./event-store.js";
import { immediateKindOf, reasonOf } from "./dead-letters.js";
import { BATCH_HEADER, REQUEST_DIGEST_HEADER } from "./request-digest.js";
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
  /**
   * What the request asked for, for exact idempotency (see requestDigest). Each event the command
   * appends carries the digest; a later command with the same causation id and the same digest is
   * answered with what the first one caused, and one with another digest is refused: by the
   * decider's own refusal when it has one (a second commitment: FAILED_PRECONDITION), else
   * ALREADY_EXISTS naming `describe` ("request_id r-1").
   */
  readonly request?: { readonly digest: string; readonly describe: string };
}

/**
 * What one causation appended to an aggregate, as the log has it: rebuilt from the stream on every
 * read of the aggregate, so a restart forgets nothing within the repository's causation window.
 */
export interface Caused<E> {
  /** Stream sequence of each event, in order. */
  readonly seqs: readonly number[];
  readonly events: readonly E[];
  /** The request digest the events carry, if the command gave one. */
  readonly digest: string | undefined;
  /** How many events the command decided: more than `events` when an append failed part-way. */
  readonly expected: number;
}

export interface ExecuteResult<S, E> {
  readonly state: S;
  /** Stream sequence of the aggregate's last event after the command. */
  readonly seq: number;
  readonly events: readonly E[];
  /** True when the causation had already been applied: nothing new was appended. */
  readonly replayed: boolean;
  /**
   * Everything this causation has appended to the aggregate, first attempt included: the first
   * answer of a repeated request is derived from it (its sequence, its events). Undefined when it
   * appended nothing (a no-op), or when it is older than the repository's causation window.
   */
  readonly caused: Caused<E> | undefined;
}

interface Entry<S, E> {
  /** The state as of `seq`: only acknowledged appends are in it. */
  state: S;
  seq: number;
  /** Recent causation ids applied to this aggregate, with what they appended. */
  causations: Map<string, Caused<E>>;
  /** Pipelined repositories: appends issued and not yet settled, oldest first. */
  inFlight: InFlight<S, E>[];
  /** Causations of the appends in flight. */
  inFlightCausations: Set<string>;
  /** An append in flight failed: the next command settles the rest and catches up first. */
  broken: boolean;
  /**
   * Not read from the log: a cache miss is assumed to be a new aggregate, which saves a read
   * for every aggregate's first command. An append is conditional on the subject being empty, so
   * the assumption is checked by the broker; a refusal or a no-op decided on it is not trusted
   * (nor on any cached state), and the aggregate is read before deciding again.
   */
  assumed: boolean;
}

interface InFlight<S, E> {
  /** The state once this append (and every one before it) is stored. */
  readonly state: S;
  readonly msgId: string;
  readonly causationId: string;
  readonly event: E;
  readonly digest: string | undefined;
  /** Events of its command, counting those its causation appended before. */
  readonly expected: number;
  /** Settles when the broker answered; never rejects. */
  readonly settled: Promise<unknown>;
}

type Issued<S, E> =
  | { readonly kind: "done"; readonly result: ExecuteResult<S, E> }
  | { readonly kind: "issued"; readonly confirmed: Promise<ExecuteResult<S, E> | "duplicate"> };

export interface RepositoryOptions {
  readonly maxCached?: number;
  readonly maxAttempts?: number;
  /**
   * Causations remembered per aggregate (default 1,000), with what they appended: the window in which
   * a repeated request gets its first answer. Rebuilt from the log, so it survives a restart.
   */
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
 *
 * Replicas: the broker checks only what a command appends, so a decision that appends nothing is
 * never trusted to a cache. A refusal or a no-op decided on cached state is decided once more on
 * the state caught up with the log (one request when the cache is current) before it is answered.
 * Otherwise a replica that missed another's append would take a reaction for done: the matchmaker
 * whose cache lacks a GameOpened would settle its GameResolved as "no such game" and acknowledge it,
 * and the game's sponsors would stay locked for good. Whatever caused the command was caused by
 * events already on the log, so the caught-up state has them.
 */
export class AggregateRepository<S, E> {
  private readonly cache = new Map<string, Entry<S, E>>();
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
        let offset = 0;
        if (seen !== undefined) {
          const repeat = this.repeated(entry, seen, context, decide);
          if (repeat !== undefined) return repeat;
          // Interrupted part-way: its state is caught up and the rest decided again (offset: the event
          // ids go on from those already stored, so they cannot collide with them).
          if (!fresh) {
            entry = await this.catchUp(id);
            fresh = true;
            continue;
          }
          offset = seen.seqs.length;
        }
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
        if (events.length === 0 && !fresh) {
          // A no-op is accepted only on the state caught up with the log (see the class: replicas).
          entry = await this.catchUp(id);
          fresh = true;
          continue;
        }
        try {
          const appended = await this.append(id, entry, events, context, offset);
          if (appended !== "duplicate") return appended;
          // Stored by an earlier attempt whose reply was lost: the cache cannot be trusted; the log
          // answers (or, if that attempt stopped part-way, the rest is decided on it).
          this.cache.delete(id);
          entry = await this.catchUp(id);
          fresh = true;
          continue;
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

  /**
   * The answer to a causation seen before: what it first caused when the request is the same and
   * its events are all stored; a refusal when the request differs; undefined when it was
   * interrupted part-way, to decide the rest.
   */
  private repeated(
    entry: Entry<S, E>,
    seen: Caused<E>,
    context: CommandContext,
    decide: (state: S) => readonly E[],
  ): ExecuteResult<S, E> | undefined {
    const request = context.request;
    if (request !== undefined && seen.digest !== undefined && seen.digest !== request.digest) {
      // The decider's own refusal says best why (e.g. "already committed something else").
      decide(entry.state);
      throw new AlreadyExistsError(`${request.describe} was already used by a request with other content`);
    }
    if (seen.seqs.length < seen.expected) return undefined;
    return { state: entry.state, seq: seen.seqs.at(-1) ?? entry.seq, events: [], replayed: true, caused: seen };
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
          const seen = entry.causations.get(context.causationId);
          return { state: entry.state, seq: seen?.seqs.at(-1) ?? entry.seq, events: [], replayed: true, caused: seen };
        });
      } catch (error) {
        if (!(error instanceof ConcurrencyError)) throw error;
        this.conflicted(id, attempt, error);
      }
    }
  }

  /** Waits for every append in flight, then catches up when one of them failed. */
  private async settledEntry(id: string): Promise<Entry<S, E>> {
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
      const seen = entry.causations.get(context.causationId);
      let offset = 0;
      if (seen !== undefined) {
        // Answered from acknowledged state only.
        if (tail !== undefined) {
          entry = await this.settledEntry(id);
          continue;
        }
        const repeat = this.repeated(entry, seen, context, decide);
        if (repeat !== undefined) return { kind: "done", result: repeat };
        if (!fresh) {
          entry = await this.catchUp(id);
          fresh = true;
          continue;
        }
        offset = seen.seqs.length;
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
        // A no-op is accepted only on the state caught up with the log (see the class: replicas).
        if (!fresh) {
          entry = await this.catchUp(id);
          fresh = true;
          continue;
        }
        return {
          kind: "done",
          result: { state: entry.state, seq: entry.seq, events: [], replayed: false, caused: undefined },
        };
      }
      while (entry.inFlight.length >= this.maxInFlight) await entry.inFlight[0]!.settled;
      if (entry.broken || this.cache.get(id) !== entry) {
        entry = await this.settledEntry(id);
        fresh = true;
        continue;
      }
      return { kind: "issued", confirmed: this.publishChained(id, entry, events, context, offset) };
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
    expected: number,
  ): { eventId: string; envelope: Envelope; headers: Record<string, string> | undefined } {
    const eventId = `${this.type.name}.${id}/${context.causationId}/${index}`;
    const envelope = envelopeOf({
      event: this.type.toWire(event),
      subject: this.subject(id),
      eventId,
      causationId: context.causationId,
      correlationId: context.correlationId ?? context.causationId,
      occurredAt: context.now,
    });
    const headers: Record<string, string> = {
      ...context.headers,
      ...(context.request ? { [REQUEST_DIGEST_HEADER]: context.request.digest } : {}),
      ...(expected > 1 ? { [BATCH_HEADER]: `${index + 1}/${expected}` } : {}),
    };
    return { eventId, envelope, headers: Object.keys(headers).length > 0 ? headers : undefined };
  }

  /** Publishes a command's events chained to the appends in flight; resolves once all are stored. */
  private publishChained(
    id: string,
    entry: Entry<S, E>,
    events: readonly E[],
    context: CommandContext,
    offset: number,
  ): Promise<ExecuteResult<S, E> | "duplicate"> {
    const subject = this.subject(id);
    const acks: Promise<ExecuteResult<S, E> | "duplicate">[] = [];
    let state = entry.inFlight.at(-1)?.state ?? entry.state;
    for (const [index, event] of events.entries()) {
      const previous = entry.inFlight.at(-1);
      const expected = offset + events.length;
      const { eventId, envelope, headers } = this.outgoing(id, offset + index, event, context, expected);
      state = this.type.evolve(state, event);
      const after = state;
      const options: AppendOptions = {
        ...(previous ? { expectedLastMsgId: previous.msgId } : { expectedLastSubjectSequence: entry.seq }),
        msgId: eventId,
        ...(headers ? { headers } : {}),
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
          const caused = () => entry.causations.get(context.causationId);
          // Already acknowledged through a later link of the chain (acks arrive in order, but be sure).
          if (position < 0) return { state: after, seq: result.seq, events, replayed: false, caused: caused() };
          // Stored after its predecessors (the chain guarantees it): everything up to it is acknowledged,
          // each link right after the one before it on the stream.
          const done = entry.inFlight.splice(0, position + 1);
          done.forEach((link, i) => {
            entry.inFlightCausations.delete(link.causationId);
            this.remember(entry, link.causationId, result.seq - (position - i), link.event, link.digest, link.expected);
          });
          entry.state = after;
          entry.seq = result.seq;
          entry.assumed = false;
          return { state: after, seq: result.seq, events, replayed: false, caused: caused() };
        },
        (error: unknown) => {
          entry.broken = true;
          this.dropInFlight(entry, item);
          throw error;
        },
      );
      const item: InFlight<S, E> = {
        state: after,
        msgId: eventId,
        causationId: context.causationId,
        event,
        digest: context.request?.digest,
        expected,
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

  private dropInFlight(entry: Entry<S, E>, item: InFlight<S, E>): void {
    const position = entry.inFlight.indexOf(item);
    if (position >= 0) entry.inFlight.splice(position, 1);
    if (!entry.inFlight.some((other) => other.causationId === item.causationId))
      entry.inFlightCausations.delete(item.causationId);
  }

  /** Appends a command's events one by one; "duplicate" when the log already had one of them. */
  private async append(
    id: string,
    entry: Entry<S, E>,
    events: readonly E[],
    context: CommandContext,
    offset: number,
  ): Promise<ExecuteResult<S, E> | "duplicate"> {
    const subject = this.subject(id);
    const expected = offset + events.length;
    let { state, seq } = entry;
    for (const [index, event] of events.entries()) {
      const { eventId, envelope, headers } = this.outgoing(id, offset + index, event, context, expected);
      const result = await this.store.append(subject, envelope, {
        expectedLastSubjectSequence: seq,
        msgId: eventId,
        ...(headers ? { headers } : {}),
      });
      if (result.duplicate) return "duplicate";
      state = this.type.evolve(state, event);
      seq = result.seq;
      entry.state = state;
      entry.seq = seq;
      entry.assumed = false;
      this.remember(entry, context.causationId, seq, event, context.request?.digest, expected);
    }
    return { state, seq, events, replayed: false, caused: entry.causations.get(context.causationId) };
  }

  private emptyEntry(id: string, assumed: boolean): Entry<S, E> {
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
  private assumeNew(id: string): Entry<S, E> {
    const entry = this.emptyEntry(id, true);
    this.cached(id, entry);
    return entry;
  }

  private cached(id: string, entry: Entry<S, E>): void {
    this.cache.delete(id);
    this.cache.set(id, entry);
    if (this.cache.size > this.maxCached) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }

  /** Reads what the log has beyond the cached entry (everything on a miss) and folds it in. */
  /**
   * Reads what the log has beyond the cached entry (everything on a miss) and folds it in. A message
   * that cannot be decoded, or whose event the aggregate's codec or evolve refuses, is refused alone:
   * logged with its sequence, counted (pot.eventstore.catchup.refused) and left out of the state,
   * while the sequence moves past it (appends must expect it). One poison message never fails every
   * command on the aggregate; the consumers of the stream dead-letter it.
   */
  private async catchUp(id: string): Promise<Entry<S, E>> {
    const entry = this.cache.get(id) ?? this.emptyEntry(id, false);
    const subject = this.subject(id);
    const log = await this.store.readLog(subject, entry.seq + 1);
    for (const refused of log.refused) {
      this.logger.error(
        { aggregate: this.type.name, id, subject, seq: refused.seq, reason: refused.reason },
        "catch-up refused an undecodable message; the aggregate is read without it",
      );
    }
    for (const stored of log.events) {
      let event: E | undefined;
      try {
        event = this.type.fromWire(stored.envelope);
        if (event !== undefined) entry.state = this.type.evolve(entry.state, event);
      } catch (error) {
        this.store.countRefused(this.type.name, immediateKindOf(error) ?? "invalid");
        this.logger.error(
          {
            aggregate: this.type.name,
            id,
            subject,
            seq: stored.seq,
            type: stored.envelope.type,
            reason: reasonOf(error),
          },
          "catch-up refused an event it cannot apply; the aggregate is read without it",
        );
        event = undefined;
      }
      entry.seq = stored.seq;
      this.rememberStored(entry, stored, event);
    }
    entry.seq = Math.max(entry.seq, log.through);
    entry.assumed = false;
    this.cached(id, entry);
    return entry;
  }

  /** What an event read from the log says its causation appended (its headers: digest, batch). */
  private rememberStored(entry: Entry<S, E>, stored: StoredEvent, event: E | undefined): void {
    const digest = stored.headers?.get(REQUEST_DIGEST_HEADER) || undefined;
    const batch = /^\d+\/(\d+)$/.exec(stored.headers?.get(BATCH_HEADER) ?? "");
    const expected = batch ? Number(batch[1]) : 1;
    this.remember(entry, stored.envelope.causationId, stored.seq, event, digest, expected);
  }

  private remember(
    entry: Entry<S, E>,
    causationId: string,
    seq: number,
    event: E | undefined,
    digest: string | undefined,
    expected: number,
  ): void {
    const seen = entry.causations.get(causationId);
    const caused: Caused<E> = {
      seqs: [...(seen?.seqs ?? []), seq],
      events: event === undefined ? (seen?.events ?? []) : [...(seen?.events ?? []), event],
      digest: seen?.digest ?? digest,
      expected: Math.max(seen?.expected ?? 1, expected),
    };
    // Re-inserted: the window keeps the most recently used causations.
    entry.causations.delete(causationId);
    entry.causations.set(causationId, caused);
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
