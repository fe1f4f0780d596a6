import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { Envelope, type Agreement } from "@pot/contracts";
import { bytesToHex } from "@pot/mechanism";
import { StreamNotFoundError } from "./errors.js";
import { isNotFound, streamNames, type ServiceName } from "./streams.js";

/** One event as read from a stream. */
export interface EventRecord {
  readonly stream: string;
  readonly seq: number;
  readonly subject: string;
  readonly envelope: Envelope;
  readonly headers: Readonly<Record<string, string>>;
}

export interface ReadEventsOptions {
  readonly namespace: string;
  readonly service: ServiceName;
  /** First stream sequence to read (default 1). */
  readonly fromSeq?: number;
  /** Keep waiting for new events instead of stopping at the stream's current end. */
  readonly follow?: boolean;
  /** One subject filter, e.g. "pot.adjudicator.game.>" (default: the whole stream). */
  readonly subject?: string;
  /** Ends the iteration (needed to stop a follow). */
  readonly signal?: AbortSignal;
}

/**
 * The events of one service's stream in order, decoded, through an ordered consumer (ephemeral,
 * nothing to clean up). Without `follow` it stops at the last event that existed when it started.
 */
export async function* readEvents(nc: NatsConnection, options: ReadEventsOptions): AsyncGenerator<EventRecord> {
  const { stream } = streamNames(options.namespace, options.service);
  const fromSeq = Math.max(1, options.fromSeq ?? 1);
  const jsm = await jetstreamManager(nc);
  let last: number;
  try {
    last = (await jsm.streams.info(stream)).state.last_seq;
  } catch (error) {
    if (isNotFound(error)) throw new StreamNotFoundError(stream, { cause: error });
    throw error;
  }
  if (!options.follow && last < fromSeq) return;
  if (options.signal?.aborted) return;
  const consumer = await jetstream(nc).consumers.get(stream, {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: fromSeq,
    ...(options.subject ? { filter_subjects: options.subject } : {}),
  });
  const messages = await consumer.consume({ max_messages: 512 });
  const stop = () => void messages.close();
  options.signal?.addEventListener("abort", stop, { once: true });
  try {
    for await (const message of messages) {
      yield {
        stream,
        seq: message.seq,
        subject: message.subject,
        envelope: Envelope.decode(message.data),
        headers: headersOf(message.headers),
      };
      if (!options.follow && message.seq >= last) break;
    }
  } finally {
    options.signal?.removeEventListener("abort", stop);
    await messages.close();
  }
}

/** Every header of a message; a repeated header keeps its values joined by ", ". */
export function headersOf(headers: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [key, values] of headers) out[key] = values.join(", ");
  return out;
}

/**
 * The current legal agreement, from the last event on `<ns>.identity.network.network` (both
 * NetworkBootstrapped and AgreementPublished carry it); undefined before the network is bootstrapped.
 */
export async function currentAgreement(nc: NatsConnection, namespace: string): Promise<Agreement | undefined> {
  const names = streamNames(namespace, "identity");
  const jsm = await jetstreamManager(nc);
  let message;
  try {
    message = await jsm.streams.getMessage(names.stream, { last_by_subj: `${names.prefix}.network.network` });
  } catch (error) {
    // The stream or the subject does not exist yet.
    if (isNotFound(error)) return undefined;
    throw error;
  }
  if (!message) return undefined;
  const event = Envelope.decode(message.data).event;
  if (event?.$case === "networkBootstrapped" || event?.$case === "agreementPublished") return event.value.agreement;
  return undefined;
}

/** JSON-ready view of an event: what `pot events tail` prints, one per line. */
export interface EventJson {
  readonly stream: string;
  readonly seq: number;
  readonly subject: string;
  readonly type: string;
  readonly eventId: string;
  readonly aggregateId: string;
  readonly causationId: string;
  readonly correlationId: string;
  readonly occurredAt: string | null;
  readonly event: unknown;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * The proto3 JSON mapping of the event (camelCase names, enums by name, 64-bit integers as
 * strings, fields at their default value left out) except that bytes are lowercase hex, not base64.
 */
export function eventToJson(record: EventRecord): EventJson {
  const { envelope } = record;
  const body = envelope.event;
  const protoJson = Envelope.toJSON(envelope) as Record<string, unknown>;
  return {
    stream: record.stream,
    seq: record.seq,
    subject: record.subject,
    type: envelope.type,
    eventId: envelope.eventId,
    aggregateId: envelope.aggregateId,
    causationId: envelope.causationId,
    correlationId: envelope.correlationId,
    occurredAt: envelope.occurredAt ? envelope.occurredAt.toISOString() : null,
    event: body ? hexBytes(body.value, protoJson[body.$case]) : null,
    headers: record.headers,
  };
}

/**
 * Walks the generated toJSON output alongside the decoded message and swaps each base64 string
 * for the hex of the bytes it came from. Oneof members appear in the JSON under their case name.
 */
export function hexBytes(decoded: unknown, json: unknown): unknown {
  if (decoded instanceof Uint8Array) return bytesToHex(decoded);
  if (Array.isArray(json)) return json.map((item, index) => hexBytes((decoded as unknown[])?.[index], item));
  if (json === null || typeof json !== "object" || decoded === null || typeof decoded !== "object") return json;
  const fields = new Map<string, unknown>(Object.entries(decoded));
  for (const value of Object.values(decoded)) {
    if (isOneof(value)) fields.set(value.$case, value.value);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) out[key] = hexBytes(fields.get(key), value);
  return out;
}

function isOneof(value: unknown): value is { $case: string; value: unknown } {
  return typeof value === "object" && value !== null && typeof (value as { $case?: unknown }).$case === "string";
}

/** JSON.stringify that also accepts bigint (as a string) and bytes (as hex). */
export function toJsonLine(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, converted: unknown) {
    // `converted` has been through toJSON already (a Buffer would be {type, data}): look at the original.
    const original = this[key];
    if (typeof original === "bigint") return original.toString();
    if (original instanceof Uint8Array) return bytesToHex(original);
    return converted;
  });
}
