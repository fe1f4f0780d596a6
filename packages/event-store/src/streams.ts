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
 * Creates or updates an event stream, then reads it back and checks that the server applied every
 * setting we rely on: a server that silently ignores one (an older version, a limit) must not run.
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
    deny_purge: false,
  };
  let info: StreamInfo;
  try {
    await jsm.streams.info(options.name);
    info = await jsm.streams.update(options.name, wanted);
  } catch (error) {
    if (!isJetStreamNotFound(error)) throw error;
    info = await jsm.streams.add(wanted);
  }
  info = await jsm.streams.info(options.name);
  const config = info.config;
  const mismatches = compare(
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
    },
  );
  if (mismatches.length > 0) {
    throw new Error(`stream ${options.name} does not have the settings it needs: ${mismatches.join("; ")}`);
  }
  return info;
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
