/**
 * Servers, fresh databases and streams for this package's integration tests, and a toy
 * projection. Not exported: @pot/devenv will replace the server part.
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { ColumnType, Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import pg from "pg";
import { DeadLetters, EventStore, envelopeOf, streamNames, type StoredEvent } from "@pot/event-store";
import { MemberExcluded } from "@pot/contracts";
import type { Projection } from "./apply-batch.js";
import { messageOf } from "./errors.js";

export const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
export const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export function randomHex(bytes = 4): string {
  return randomBytes(bytes).toString("hex");
}

/**
 * Why the integration tests cannot run here, or false when they can. Under CI an unreachable
 * server fails the suite instead of skipping it.
 */
export async function serversUnavailable(): Promise<string | false> {
  const problems: string[] = [];
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 3_000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("select 1");
  } catch (error) {
    problems.push(`Postgres at ${DATABASE_URL}: ${messageOf(error)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
  try {
    const nc = await connect({ servers: NATS_URL, timeout: 3_000, reconnect: false });
    await nc.close();
  } catch (error) {
    problems.push(`NATS at ${NATS_URL}: ${messageOf(error)}`);
  }
  if (problems.length === 0) return false;
  const reason = `integration servers unreachable (${problems.join("; ")})`;
  if (process.env.CI) throw new Error(`${reason}; under CI this is a failure, not a skip`);
  return reason;
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  drop(): Promise<void>;
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A new, empty database, named pot_t_<random>. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `pot_t_${randomHex(6)}`;
  await admin((client) => client.query(`create database ${name}`));
  const url = new URL(DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.href,
    drop: () =>
      admin(async (client) => {
        await client.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1", [name]);
        await client.query(`drop database if exists ${name}`);
      }),
  };
}

export interface TestStream {
  readonly nc: NatsConnection;
  readonly store: EventStore;
  /** The identity service's dead-letter stream in the namespace, in memory. */
  readonly deadLetters: DeadLetters;
  readonly namespace: string;
  drop(): Promise<void>;
}

/** A new identity stream and its dead-letter stream in a random namespace, in memory. */
export async function createTestStream(): Promise<TestStream> {
  const namespace = `t${randomHex(6)}`;
  const nc = await connect({ servers: NATS_URL });
  const store = await EventStore.open(nc, streamNames(namespace, "identity"), { storage: "memory" });
  const deadLetters = await DeadLetters.open(nc, namespace, "identity", { storage: "memory" });
  return {
    nc,
    store,
    deadLetters,
    namespace,
    async drop() {
      await store.jsm.streams.delete(store.names.stream).catch(() => undefined);
      await store.jsm.streams.delete(deadLetters.names.stream).catch(() => undefined);
      await nc.close();
    },
  };
}

/** Appends one memberExcluded event per id to `<prefix>.<type>.<id>`, in order. */
export async function publish(store: EventStore, type: string, ids: readonly string[]): Promise<StoredEvent[]> {
  const last = new Map<string, number>();
  const out: StoredEvent[] = [];
  for (const id of ids) {
    const subject = store.subject(type, id);
    const eventId = `${subject}/${randomHex(8)}`;
    const envelope = envelopeOf({
      event: {
        $case: "memberExcluded",
        value: MemberExcluded.fromPartial({ memberId: id, reason: "test", excludedAtMs: 0n }),
      },
      subject,
      eventId,
      causationId: eventId,
      correlationId: eventId,
      occurredAt: new Date(0),
    });
    const { seq } = await store.append(subject, envelope, {
      expectedLastSubjectSequence: last.get(subject) ?? (await store.lastSequence(subject)),
      msgId: eventId,
    });
    last.set(subject, seq);
    out.push({ seq, subject, envelope, headers: undefined });
  }
  return out;
}

/** An event that was never on a stream, for tests of applyBatch alone. */
export function storedEvent(seq: number, aggregateId: string): StoredEvent {
  const subject = `t.identity.member.${aggregateId}`;
  return {
    seq,
    subject,
    headers: undefined,
    envelope: envelopeOf({
      event: {
        $case: "memberExcluded",
        value: MemberExcluded.fromPartial({ memberId: aggregateId, reason: "test", excludedAtMs: 0n }),
      },
      subject,
      eventId: `e${seq}`,
      causationId: `c${seq}`,
      correlationId: `c${seq}`,
      occurredAt: new Date(0),
    }),
  };
}

export interface EventCountsTable {
  projection: string;
  aggregate_id: string;
  events: number;
  last_seq: ColumnType<string, number, number>;
}

export interface CounterDB {
  event_counts: EventCountsTable;
}

export const counterMigrations: Record<string, Migration> = {
  "2026-01-01T00:00:00Z_event_counts": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("event_counts")
        .addColumn("projection", "text", (column) => column.notNull())
        .addColumn("aggregate_id", "text", (column) => column.notNull())
        .addColumn("events", "integer", (column) => column.notNull())
        .addColumn("last_seq", "bigint", (column) => column.notNull())
        .addPrimaryKeyConstraint("event_counts_pk", ["projection", "aggregate_id"])
        .execute();
    },
  },
};

/**
 * Counts events per aggregate. Deliberately not idempotent (it increments), so an event applied
 * twice shows in the counts.
 */
export function counterProjection(name: string): Projection<CounterDB> {
  return {
    name,
    async apply(trx, events) {
      for (const event of events) {
        await trx
          .insertInto("event_counts")
          .values({ projection: name, aggregate_id: event.envelope.aggregateId, events: 1, last_seq: event.seq })
          .onConflict((conflict) =>
            conflict.columns(["projection", "aggregate_id"]).doUpdateSet((eb) => ({
              events: eb("event_counts.events", "+", 1),
              last_seq: eb.ref("excluded.last_seq"),
            })),
          )
          .execute();
      }
    },
  };
}

/** Events counted by the projection, by aggregate id. */
export async function counts(db: Kysely<CounterDB>, projection: string): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom("event_counts")
    .select(["aggregate_id", "events"])
    .where("projection", "=", projection)
    .orderBy("aggregate_id")
    .execute();
  return Object.fromEntries(rows.map((row) => [row.aggregate_id, row.events]));
}

/** How many times each id occurs. */
export function tally(ids: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const id of [...ids].sort()) out[id] = (out[id] ?? 0) + 1;
  return out;
}

/** Retries `check` until it stops throwing, for state that settles asynchronously (acks). */
export async function eventually(check: () => Promise<void>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(50);
    }
  }
}
