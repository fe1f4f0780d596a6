import {
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { ATTR, createCounter, meter, METRICS } from "@pot/telemetry";
import { isJetStreamNotFound, isWrongLastSequence } from "./errors.js";
import { silentLogger, type Logger } from "./logger.js";
import { assertNamespace, type ServiceName, type StreamNames } from "./naming.js";
import { ensureEventStream } from "./streams.js";
import { TRACER_NAME } from "./telemetry.js";

/**
 * Why a message was dead-lettered (the `Pot-Dead-Reason-Kind` header, the metric's reason_kind):
 * - undecodable: not an envelope (garbage bytes, no event body);
 * - invalid: an envelope whose event is refused by its codec (a valid type with invalid content);
 * - failed: its reaction or projection threw on every one of the bounded attempts;
 * - forged: its signatures do not justify it (a reaction refused to act on it).
 */
export const DEAD_LETTER_REASON_KINDS = ["undecodable", "invalid", "failed", "forged"] as const;
export type DeadLetterReasonKind = (typeof DEAD_LETTER_REASON_KINDS)[number];

/**
 * Headers every dead letter carries, besides the original message's own (its `Nats-*` headers are
 * dropped: they would steer the dead-letter stream's de-duplication and expectations). The body is
 * the original message's bytes, unchanged. docs/events.md documents them; keep it in step.
 */
export const DEAD_LETTER_HEADERS = {
  /** Why, one line, at most REASON_MAX characters. */
  reason: "Pot-Dead-Reason",
  /** One of DEAD_LETTER_REASON_KINDS. */
  reasonKind: "Pot-Dead-Reason-Kind",
  /** The stream the message was read from, e.g. POT_ADJUDICATOR. */
  stream: "Pot-Dead-Stream",
  /** Its sequence in that stream. */
  seq: "Pot-Dead-Seq",
  /** Its subject, e.g. pot.adjudicator.game.<id>. */
  subject: "Pot-Dead-Subject",
  /** The durable consumer (or tool) that gave up on it. */
  consumer: "Pot-Dead-Consumer",
  /** The service whose dead-letter stream holds it. */
  service: "Pot-Dead-Service",
  /** Deliveries or attempts made before giving up. */
  attempts: "Pot-Dead-Attempts",
  /** When it was dead-lettered (ISO 8601, UTC). */
  time: "Pot-Dead-Time",
} as const;

/** Set on a message re-published by `pot dead-letters retry`: `<dead-letter stream>:<dead-letter seq>`. */
export const DEAD_LETTER_RETRY_HEADER = "Pot-Dead-Letter-Retry";

/** Longest reason kept, in characters (the rest is cut and marked with "…"). */
export const REASON_MAX = 500;

/** Default of DEAD_LETTER_AFTER: attempts a reaction or a projection gets before its event is dead-lettered. */
export const DEFAULT_DEAD_LETTER_AFTER = 5;

export interface DeadLetterNames extends StreamNames {
  readonly service: ServiceName;
  /** Subject prefix of the dead letters themselves: `<prefix>.letter.<consumer>`. */
  readonly letters: string;
  /** Subject prefix of the retry records: `<prefix>.retried.<dead-letter seq>`, one per dead letter re-driven. */
  readonly retried: string;
}

/** `<NS>_DEAD_<SERVICE>` on `<ns>.dead.<service>.>`: the dead letters of `service`'s consumers. */
export function deadLetterNames(namespace: string, service: ServiceName): DeadLetterNames {
  const prefix = `${assertNamespace(namespace)}.dead.${service}`;
  return {
    service,
    stream: `${namespace.toUpperCase()}_DEAD_${service.toUpperCase()}`,
    prefix,
    all: `${prefix}.>`,
    letters: `${prefix}.letter`,
    retried: `${prefix}.retried`,
  };
}

/** The message given up on, as read from its stream. */
export interface PoisonMessage {
  readonly stream: string;
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers?: MsgHdrs | undefined;
  /** Deliveries or attempts so far. */
  readonly attempts: number;
}

export function poisonOf(message: JsMsg, attempts = message.info.deliveryCount): PoisonMessage {
  return {
    stream: message.info.stream,
    seq: message.seq,
    subject: message.subject,
    data: message.data,
    headers: message.headers,
    attempts,
  };
}

/**
 * Thrown by a reaction or a projection for an event it must never act on: the consumer dead-letters
 * the event at once with this kind and message (no retry) and moves on. E.g. a forged event:
 * `throw new DeadLetterError("forged", "GameResolved of game g-1: sponsor signature does not verify")`.
 */
export class DeadLetterError extends Error {
  override readonly name = "DeadLetterError";
  constructor(
    readonly kind: DeadLetterReasonKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** One line: control characters (header-breaking CR/LF among them) as spaces, cut at REASON_MAX. */
export function reasonText(reason: string): string {
  // eslint-disable-next-line no-control-regex
  const line = reason.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim();
  const chars = [...line];
  return chars.length <= REASON_MAX ? line : `${chars.slice(0, REASON_MAX - 1).join("")}…`;
}

/** A subject token naming `consumer`: characters other than letters, digits, '_' and '-' become '_'. */
function subjectToken(consumer: string): string {
  return consumer.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 128) || "_";
}

export interface DeadLetterOptions {
  /** Copies of the dead-letter stream in a NATS cluster (default 1). */
  readonly replicas?: number;
  readonly storage?: "file" | "memory";
  readonly logger?: Logger;
  /** The clock of the Pot-Dead-Time header (default Date.now). */
  readonly now?: () => number;
}

/**
 * One service's dead letters: where its consumers put the messages they give up on, so that no
 * poison message stalls a consumer. The stream, `<NS>_DEAD_<SERVICE>`, is append-only like the
 * event streams (deny purge, deny delete); `pot dead-letters list|show|retry` reads and re-drives it.
 */
export class DeadLetters {
  private readonly js: JetStreamClient;

  private constructor(
    connection: NatsConnection,
    readonly names: DeadLetterNames,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {
    this.js = jetstream(connection);
  }

  /** Creates (or checks) the service's dead-letter stream and returns its writer. */
  static async open(
    connection: NatsConnection,
    namespace: string,
    service: ServiceName,
    options: DeadLetterOptions = {},
  ): Promise<DeadLetters> {
    const names = deadLetterNames(namespace, service);
    const jsm = await jetstreamManager(connection);
    await ensureDeadLetterStream(jsm, names, options);
    // Zero from the start, so dashboards and alerts see the series before the first incident.
    deadLetterCounter().add(0, { [ATTR.service]: names.service });
    return new DeadLetters(connection, names, options.logger ?? silentLogger, options.now ?? Date.now);
  }

  /**
   * Dead-letters `message`: publishes its bytes and headers with the dead-letter headers to
   * `<ns>.dead.<service>.letter.<consumer>`, counts it (pot.dead_letters) and logs it. The publish
   * carries a Nats-Msg-Id made of stream, sequence and consumer, so a consumer that crashes before
   * acknowledging the original and dead-letters it again stores it once (within the duplicate
   * window). The caller acknowledges the original once this resolves; if it rejects, nothing was
   * recorded and the caller must not acknowledge.
   *
   * Returns the dead letter's sequence in the dead-letter stream.
   */
  async deadLetter(
    message: PoisonMessage,
    reason: { readonly kind: DeadLetterReasonKind; readonly reason: string },
    consumer: string,
  ): Promise<number> {
    const h = natsHeaders();
    const dead = new Set(Object.values(DEAD_LETTER_HEADERS).map((name) => name.toLowerCase()));
    for (const [key, values] of message.headers ?? []) {
      if (key.toLowerCase().startsWith("nats-") || dead.has(key.toLowerCase())) continue;
      for (const value of values) h.append(key, value);
    }
    const text = reasonText(reason.reason);
    h.set(DEAD_LETTER_HEADERS.reason, text);
    h.set(DEAD_LETTER_HEADERS.reasonKind, reason.kind);
    h.set(DEAD_LETTER_HEADERS.stream, message.stream);
    h.set(DEAD_LETTER_HEADERS.seq, String(message.seq));
    h.set(DEAD_LETTER_HEADERS.subject, message.subject);
    h.set(DEAD_LETTER_HEADERS.consumer, consumer);
    h.set(DEAD_LETTER_HEADERS.service, this.names.service);
    h.set(DEAD_LETTER_HEADERS.attempts, String(message.attempts));
    h.set(DEAD_LETTER_HEADERS.time, new Date(this.now()).toISOString());
    const ack = await this.js.publish(`${this.names.letters}.${subjectToken(consumer)}`, message.data, {
      headers: h,
      msgID: `dead:${message.stream}:${message.seq}:${consumer}`,
    });
    if (!ack.duplicate) {
      deadLetterCounter().add(1, {
        [ATTR.service]: this.names.service,
        [ATTR.stream]: message.stream,
        [ATTR.reasonKind]: reason.kind,
      });
    }
    this.logger.error(
      {
        stream: message.stream,
        seq: message.seq,
        subject: message.subject,
        consumer,
        attempts: message.attempts,
        reasonKind: reason.kind,
        reason: text,
        deadLetterStream: this.names.stream,
        deadLetterSeq: ack.seq,
      },
      "message dead-lettered; the consumer moves on",
    );
    return ack.seq;
  }
}

/** Creates the dead-letter stream of `names`, or checks its settings (see ensureEventStream). */
export async function ensureDeadLetterStream(
  jsm: JetStreamManager,
  names: DeadLetterNames,
  options: Pick<DeadLetterOptions, "replicas" | "storage"> = {},
): Promise<void> {
  await ensureEventStream(jsm, {
    name: names.stream,
    subjects: [names.all],
    ...(options.replicas !== undefined ? { replicas: options.replicas } : {}),
    ...(options.storage !== undefined ? { storage: options.storage } : {}),
  });
}

let counter: ReturnType<typeof createCounter> | undefined;

function deadLetterCounter(): ReturnType<typeof createCounter> {
  counter ??= createCounter(meter(TRACER_NAME), METRICS.deadLetters);
  return counter;
}

/** The kind of an error thrown by a reaction or a projection, when it condemns its event at once. */
export function immediateKindOf(error: unknown): DeadLetterReasonKind | undefined {
  if (error instanceof DeadLetterError) return error.kind;
  if (error instanceof Error && error.name === "ValidationError") return "invalid";
  // A reaction's refusal of an event whose carried signatures do not justify it (@pot/mechanism).
  if (error instanceof Error && error.name === "ForgedEventError") return "forged";
  return undefined;
}

/** The error's message, its causes' appended, for a dead letter's reason. */
export function reasonOf(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e !== undefined && parts.length < 4; e = (e as { cause?: unknown }).cause) {
    if (e instanceof Error) parts.push(`${e.name}: ${e.message}`);
    else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(" <- ") || "unknown error";
}

/** A dead letter as read back from a dead-letter stream. */
export interface DeadLetter {
  /** Its sequence in the dead-letter stream. */
  readonly seq: number;
  readonly subject: string;
  readonly reason: string;
  readonly kind: string;
  /** Where the original message was: stream, sequence, subject. */
  readonly stream: string;
  readonly originalSeq: number;
  readonly originalSubject: string;
  readonly consumer: string;
  readonly service: string;
  readonly attempts: number;
  /** When it was dead-lettered (the Pot-Dead-Time header, ISO 8601). */
  readonly time: string;
  /** The original bytes. */
  readonly data: Uint8Array;
  readonly headers: MsgHdrs | undefined;
  /**
   * Set once `pot dead-letters retry` re-drove it: the retry record's sequence and time, and the
   * re-published message's sequence on the original stream.
   */
  readonly retried?: { readonly seq: number; readonly time: string; readonly as: number };
}

/** The retry record of dead letter `seq`: its subject in the dead-letter stream. */
export function retrySubject(names: DeadLetterNames, seq: number): string {
  return `${names.retried}.${seq}`;
}

/**
 * Every dead letter of a dead-letter stream with its retry record, oldest first, read through an
 * ordered consumer (any user allowed to read the stream). `fromSeq` and `limit` page through it.
 */
export async function readDeadLetters(
  connection: NatsConnection,
  names: DeadLetterNames,
  options: { readonly fromSeq?: number; readonly limit?: number } = {},
): Promise<DeadLetter[]> {
  const jsm = await jetstreamManager(connection);
  const info = await jsm.streams.info(names.stream);
  const last = info.state.last_seq;
  const fromSeq = Math.max(1, options.fromSeq ?? 1);
  if (info.state.messages === 0 || last < fromSeq) return [];
  const consumer = await jetstream(connection).consumers.get(names.stream, {
    filter_subjects: names.all,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: fromSeq,
  });
  const letters: DeadLetter[] = [];
  const retried = new Map<number, { seq: number; time: string; as: number }>();
  const messages = await consumer.consume({ max_messages: 512 });
  try {
    for await (const message of messages) {
      if (message.subject.startsWith(`${names.retried}.`)) {
        const of = Number(message.subject.slice(names.retried.length + 1));
        retried.set(of, retryRecordOf(message.seq, message.headers));
      } else {
        letters.push(deadLetterOf(message.seq, message.subject, message.data, message.headers));
      }
      if (message.seq >= last) break;
    }
  } finally {
    await messages.close();
  }
  const out = letters.map((letter) => {
    const retry = retried.get(letter.seq);
    return retry ? { ...letter, retried: retry } : letter;
  });
  return options.limit === undefined ? out : out.slice(0, options.limit);
}

/** One dead letter by its sequence, with its retry record; undefined when there is none at `seq`. */
export async function readDeadLetter(
  connection: NatsConnection,
  names: DeadLetterNames,
  seq: number,
): Promise<DeadLetter | undefined> {
  const jsm = await jetstreamManager(connection);
  const message = await jsm.streams.getMessage(names.stream, { seq }).catch((error: unknown) => {
    if (isJetStreamNotFound(error)) return null;
    throw error;
  });
  if (!message || !message.subject.startsWith(`${names.letters}.`)) return undefined;
  const letter = deadLetterOf(message.seq, message.subject, message.data, message.header);
  const retry = await jsm.streams
    .getMessage(names.stream, { last_by_subj: retrySubject(names, seq) })
    .catch((error: unknown) => {
      if (isJetStreamNotFound(error)) return null;
      throw error;
    });
  return retry ? { ...letter, retried: retryRecordOf(retry.seq, retry.header) } : letter;
}

function retryRecordOf(seq: number, h: MsgHdrs | undefined): { seq: number; time: string; as: number } {
  return {
    seq,
    time: h?.get(DEAD_LETTER_HEADERS.time) ?? "",
    as: Number(h?.get(DEAD_LETTER_RETRIED_SEQ_HEADER)) || 0,
  };
}

function deadLetterOf(seq: number, subject: string, data: Uint8Array, h: MsgHdrs | undefined): DeadLetter {
  const get = (name: string) => h?.get(name) ?? "";
  return {
    seq,
    subject,
    reason: get(DEAD_LETTER_HEADERS.reason),
    kind: get(DEAD_LETTER_HEADERS.reasonKind),
    stream: get(DEAD_LETTER_HEADERS.stream),
    originalSeq: Number(get(DEAD_LETTER_HEADERS.seq)) || 0,
    originalSubject: get(DEAD_LETTER_HEADERS.subject),
    consumer: get(DEAD_LETTER_HEADERS.consumer),
    service: get(DEAD_LETTER_HEADERS.service),
    attempts: Number(get(DEAD_LETTER_HEADERS.attempts)) || 0,
    time: get(DEAD_LETTER_HEADERS.time),
    data,
    headers: h,
  };
}

/** Set on a retry record: the sequence of the message re-published on the original stream. */
export const DEAD_LETTER_RETRIED_SEQ_HEADER = "Pot-Dead-Retried-Seq";

/** Why a dead letter cannot be re-driven; `reason` tells the CLI which exit code fits. */
export class DeadLetterRetryError extends Error {
  override readonly name = "DeadLetterRetryError";
  constructor(
    readonly reason: "not-found" | "already-retried" | "not-redrivable",
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface RetryResult {
  readonly letter: DeadLetter;
  /** Where the original bytes went again. */
  readonly stream: string;
  readonly subject: string;
  /** The re-published message's sequence on that stream. */
  readonly seq: number;
  /** The retry record's sequence in the dead-letter stream. */
  readonly recordSeq: number;
}

/**
 * Re-drives dead letter `seq` of `names`: re-publishes its original bytes and headers (without the
 * dead-letter ones) on its original subject, which must belong to one of `eventStreams` (the
 * network's streams; the publish also expects that stream, so it can never land elsewhere), with
 * `Pot-Dead-Letter-Retry: <dead-letter stream>:<seq>`; then writes the retry record
 * `<prefix>.retried.<seq>`, which may exist once (Nats-Expected-Last-Subject-Sequence 0): a dead
 * letter is re-driven once. The re-publish carries a Nats-Msg-Id of its own, so two retries racing
 * within the duplicate window store it once.
 *
 * Needs publish rights on the original subject (the NATS admin: a service's user may not publish on
 * another service's stream, and the reader publishes nothing).
 */
export async function retryDeadLetter(
  connection: NatsConnection,
  names: DeadLetterNames,
  seq: number,
  options: { readonly eventStreams: readonly StreamNames[]; readonly now?: () => number },
): Promise<RetryResult> {
  const letter = await readDeadLetter(connection, names, seq);
  if (letter === undefined) {
    throw new DeadLetterRetryError("not-found", `${names.stream} has no dead letter at sequence ${seq}`);
  }
  if (letter.retried) {
    throw new DeadLetterRetryError(
      "already-retried",
      `dead letter ${seq} of ${names.stream} was retried already (record ${letter.retried.seq}, ${letter.retried.time})`,
    );
  }
  const target = options.eventStreams.find(
    (stream) => stream.stream === letter.stream && letter.originalSubject.startsWith(`${stream.prefix}.`),
  );
  if (target === undefined) {
    throw new DeadLetterRetryError(
      "not-redrivable",
      `dead letter ${seq} of ${names.stream} names ${JSON.stringify(letter.stream)} and subject ${JSON.stringify(letter.originalSubject)}, not a subject of one of this network's streams: it is not re-driven`,
    );
  }
  const js = jetstream(connection);
  const h = natsHeaders();
  const dead = new Set(Object.values(DEAD_LETTER_HEADERS).map((name) => name.toLowerCase()));
  for (const [key, values] of letter.headers ?? []) {
    const lower = key.toLowerCase();
    if (lower.startsWith("nats-") || dead.has(lower) || lower === DEAD_LETTER_RETRY_HEADER.toLowerCase()) continue;
    for (const value of values) h.append(key, value);
  }
  const mark = `${names.stream}:${seq}`;
  h.set(DEAD_LETTER_RETRY_HEADER, mark);
  const ack = await js.publish(letter.originalSubject, letter.data, {
    headers: h,
    msgID: `retry:${mark}`,
    expect: { streamName: target.stream },
  });
  const record = natsHeaders();
  record.set(DEAD_LETTER_RETRY_HEADER, mark);
  record.set(DEAD_LETTER_RETRIED_SEQ_HEADER, String(ack.seq));
  record.set(DEAD_LETTER_HEADERS.time, new Date((options.now ?? Date.now)()).toISOString());
  try {
    const recorded = await js.publish(retrySubject(names, seq), new Uint8Array(0), {
      headers: record,
      expect: { lastSubjectSequence: 0 },
    });
    return { letter, stream: target.stream, subject: letter.originalSubject, seq: ack.seq, recordSeq: recorded.seq };
  } catch (error) {
    if (isWrongLastSequence(error)) {
      throw new DeadLetterRetryError(
        "already-retried",
        `dead letter ${seq} of ${names.stream} was retried by someone else at the same time`,
        { cause: error },
      );
    }
    throw error;
  }
}
