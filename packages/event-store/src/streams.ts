import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import { isJetStreamNotFound } from "./errors.js";

const SECOND_NS = 1_000_000_000;

export interface EventStreamOptions {
  readonly name: string;
  readonly subjects: readonly string[];
  readonly replicas?: number;
  /** How long a Nats-Msg-Id is remembered for de-duplication. */
  readonly duplicateWindowMs?: number;
  readonly storage?: "file" | "memory";
}

/**
 * Creates the event stream, or updates it when a setting we rely on differs, then reads it back and
 * checks that the server applied every one: a server that silently ignores one (an older version, a
 * limit) must not run.
 *
 * Streams deny purging and deleting messages (`deny_purge`, `deny_delete`): an event log is only
 * appended to. The server lets an update turn these on but never off again. Deleting a whole
 * stream (tests' cleanup, by a user allowed to) is still possible.
 *
 * A stream that exists with the right settings is left alone, so a service whose NATS user may only
 * create its stream (not update it) starts. When an update is needed and the user may not make it,
 * the error says so: the NATS admin applies it (`ensureEventStream` with the admin's connection,
 * e.g. `npm start` does before starting the services).
 */
export async function ensureEventStream(jsm: JetStreamManager, options: EventStreamOptions): Promise<StreamInfo> {
  const wanted: Partial<StreamConfig> & { name: string } = {
    name: options.name,
    subjects: [...options.subjects],
    retention: RetentionPolicy.Limits,
    storage: options.storage === "memory" ? StorageType.Memory : StorageType.File,
    discard: DiscardPolicy.Old,
    max_msgs: -1,
    max_bytes: -1,
    max_age: 0,
    max_msgs_per_subject: -1,
    num_replicas: options.replicas ?? 1,
    duplicate_window: (options.duplicateWindowMs ?? 120_000) * 1_000_000,
    allow_direct: true,
    deny_delete: true,
    deny_purge: true,
  };
  let info: StreamInfo | undefined;
  try {
    info = await jsm.streams.info(options.name);
  } catch (error) {
    if (!isJetStreamNotFound(error)) throw error;
  }
  if (info === undefined) {
    info = await jsm.streams.add(wanted);
  } else if (mismatchesOf(info, wanted).length > 0) {
    try {
      await jsm.streams.update(options.name, wanted);
    } catch (error) {
      if (!isPermissionViolation(error)) throw error;
      throw new Error(
        `stream ${options.name} needs an update (${mismatchesOf(info, wanted).join("; ")}) that this NATS user may not make: ` +
          "have the NATS admin apply it (npm start does; see docs/security.md)",
        { cause: error },
      );
    }
  }
  info = await jsm.streams.info(options.name);
  const mismatches = mismatchesOf(info, wanted);
  if (mismatches.length > 0) {
    throw new Error(`stream ${options.name} does not have the settings it needs: ${mismatches.join("; ")}`);
  }
  return info;
}

function mismatchesOf(info: StreamInfo, wanted: Partial<StreamConfig>): string[] {
  const config = info.config;
  return compare(
    {
      subjects: [...(config.subjects ?? [])].sort(),
      retention: config.retention,
      storage: config.storage,
      discard: config.discard,
      num_replicas: config.num_replicas,
      duplicate_window: config.duplicate_window,
      max_age: config.max_age,
      allow_direct: config.allow_direct,
      deny_delete: config.deny_delete,
      deny_purge: config.deny_purge,
    },
    {
      subjects: [...(wanted.subjects ?? [])].sort(),
      retention: wanted.retention,
      storage: wanted.storage,
      discard: wanted.discard,
      num_replicas: wanted.num_replicas,
      duplicate_window: wanted.duplicate_window,
      max_age: wanted.max_age,
      allow_direct: wanted.allow_direct,
      deny_delete: wanted.deny_delete,
      deny_purge: wanted.deny_purge,
    },
  );
}

/** The server refused a request for lack of permission (the client reports it as a permissions error). */
export function isPermissionViolation(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (/permissions? violation/i.test(e.message) || e.name === "PermissionViolationError") return true;
  }
  return false;
}

export interface DurableConsumerOptions {
  readonly stream: string;
  readonly durable: string;
  /** One subject filter (nats-server 2.9 supports only one per consumer). */
  readonly filterSubject?: string;
  readonly ackWaitMs?: number;
  readonly maxAckPending?: number;
  readonly description?: string;
}

/** Creates or updates a durable pull consumer and verifies the settings the server applied. */
export async function ensureDurableConsumer(
  jsm: JetStreamManager,
  options: DurableConsumerOptions,
): Promise<ConsumerInfo> {
  const wanted: Partial<ConsumerConfig> = {
    durable_name: options.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: (options.ackWaitMs ?? 30_000) * 1_000_000,
    max_deliver: -1,
    max_ack_pending: options.maxAckPending ?? 1_000,
    ...(options.filterSubject ? { filter_subject: options.filterSubject } : {}),
    ...(options.description ? { description: options.description } : {}),
  };
  let info: ConsumerInfo;
  try {
    const existing = await jsm.consumers.info(options.stream, options.durable);
    const { deliver_policy: _immutable, ...mutable } = wanted;
    info =
      existing.config.filter_subject === wanted.filter_subject &&
      existing.config.ack_wait === wanted.ack_wait &&
      existing.config.max_ack_pending === wanted.max_ack_pending
        ? existing
        : await jsm.consumers.update(options.stream, options.durable, mutable);
  } catch (error) {
    if (!isJetStreamNotFound(error)) throw error;
    info = await jsm.consumers.add(options.stream, wanted);
  }
  const mismatches = compare(
    {
      ack_policy: info.config.ack_policy,
      filter_subject: info.config.filter_subject ?? undefined,
      ack_wait: info.config.ack_wait,
      max_ack_pending: info.config.max_ack_pending,
    },
    {
      ack_policy: wanted.ack_policy,
      filter_subject: wanted.filter_subject,
      ack_wait: wanted.ack_wait,
      max_ack_pending: wanted.max_ack_pending,
    },
  );
  if (mismatches.length > 0) {
    throw new Error(
      `consumer ${options.durable} on ${options.stream} does not have the settings it needs: ${mismatches.join("; ")}`,
    );
  }
  return info;
}

function compare(actual: Record<string, unknown>, wanted: Record<string, unknown>): string[] {
  return Object.keys(wanted)
    .filter((key) => JSON.stringify(actual[key]) !== JSON.stringify(wanted[key]))
    .map((key) => `${key} is ${JSON.stringify(actual[key])}, wanted ${JSON.stringify(wanted[key])}`);
}

export { SECOND_NS };
