import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInbox, type NatsConnection } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { createPublicKey, verify as verifyNative } from "node:crypto";
import pg from "pg";
import { decodeEnvelope, EventStore, type StreamNames } from "@pot/event-store";
import { generateKeyPair, sign, verify } from "@pot/mechanism";
import { arrayLiteral } from "@pot/projections";
import type { Pki } from "@pot/devenv";
import { benchCredentials, benchPki, healthChecker } from "./clients.js";
import { EntityFold, entityOf, type FoldedRow } from "./fold.js";
import { closedLoop } from "./load.js";
import { Latencies, ratePerSecond, type Percentiles } from "./stats.js";
import { publishPipelined, publishUnacked, synthesize } from "./synth.js";

export interface PingResult {
  readonly rate: number;
  readonly concurrency: number;
  readonly latency: Percentiles;
  readonly target: string;
  readonly failed: number;
}

/** 64 concurrent grpc.health.v1 Check calls, back to back, on one service process over loopback. */
export async function grpcPingRate(
  address: string,
  target: string,
  durationMs: number,
  concurrency = 64,
  pki?: Pki,
): Promise<PingResult> {
  const health = healthChecker(address, benchCredentials(pki ?? (await benchPki())));
  try {
    const latency = new Latencies();
    await closedLoop(concurrency, 300, () => health.check());
    const result = await closedLoop(concurrency, durationMs, () => latency.time(() => health.check()));
    return {
      rate: ratePerSecond(result.completed, result.ms),
      concurrency,
      latency: latency.summary(),
      target,
      failed: result.failed,
    };
  } finally {
    health.close();
  }
}

const PING_CHILD = fileURLToPath(new URL("./ping-child.js", import.meta.url));

/**
 * grpcPingRate from a client process of its own (node bench/dist/ping-child.js): the service's
 * process serves and nothing else shares its client's event loop or the bench's, so the rate is
 * what two processes on this machine reach, not what a client sharing the bench process reaches.
 */
export async function grpcPingRateFromChild(
  address: string,
  target: string,
  durationMs: number,
  concurrency = 64,
): Promise<PingResult> {
  const pki = await benchPki();
  const child = spawn(
    process.execPath,
    [PING_CHILD, JSON.stringify({ address, target, durationMs, concurrency, pkiDir: pki.dir })],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", resolve);
  });
  const line = stdout.trim().split("\n").at(-1) ?? "";
  if (code !== 0 || !line.startsWith("{")) throw new Error(`the gRPC ping client failed (exit ${code}):\n${stderr}`);
  return JSON.parse(line) as PingResult;
}

export interface PublishResult {
  readonly rate: number;
  readonly count: number;
  readonly inFlight: number;
  readonly messageBytes: number;
  readonly lastSeq: number;
}

/** A stream of the bench's own (`<NS>_LIMITS`), file storage like the services' streams. */
export function limitsStream(namespace: string): StreamNames {
  return { stream: `${namespace.toUpperCase()}_LIMITS`, prefix: `${namespace}.limits`, all: `${namespace}.limits.>` };
}

/**
 * JetStream publishes with acks, `inFlight` outstanding, for `durationMs`: identity MemberAdmitted
 * envelopes (their real size and headers) on one subject per member, as the identity service appends.
 */
export async function jetStreamPublishRate(
  nc: NatsConnection,
  names: StreamNames,
  durationMs: number,
  inFlight = 256,
): Promise<PublishResult> {
  const store = await EventStore.open(nc, names);
  const messages = synthesize("identity", names);
  // Encode ahead, so the measurement is the broker round trip rather than our protobuf encoder.
  const ready = Array.from({ length: 20_000 }, () => messages.next().value!);
  const messageBytes = Math.round(ready.reduce((sum, m) => sum + m.data.length, 0) / ready.length);
  let index = 0;
  const deadline = performance.now() + durationMs;
  const cycle: Iterator<(typeof ready)[number]> = {
    next: () =>
      performance.now() >= deadline
        ? { done: true, value: undefined }
        : { done: false, value: ready[index++ % ready.length]! },
  };
  const { ms, lastSeq } = await publishPipelined(store.js, cycle, Number.MAX_SAFE_INTEGER, inFlight);
  return { rate: ratePerSecond(index, ms), count: index, inFlight, messageBytes, lastSeq };
}

/**
 * JetStream publishes with acks, pipelined the cheapest way the protocol allows: plain NATS
 * publishes whose reply subjects share one wildcard subscription (no promise, timer or
 * subscription per message, as js.publish makes), `inFlight` outstanding. Every ack is parsed and
 * checked. The best acked publish rate a client on this machine reaches: what appends compare to.
 */
export async function jetStreamPipelinedPublishRate(
  nc: NatsConnection,
  names: StreamNames,
  durationMs: number,
  inFlight = 1_024,
): Promise<PublishResult> {
  await EventStore.open(nc, names);
  const messages = synthesize("identity", names);
  const ready = Array.from({ length: 20_000 }, () => messages.next().value!);
  const messageBytes = Math.round(ready.reduce((sum, m) => sum + m.data.length, 0) / ready.length);
  const inbox = createInbox();
  let acked = 0;
  let lastSeq = 0;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const subscription = nc.subscribe(`${inbox}.*`, {
    callback: (error, message) => {
      if (error) failure ??= error;
      else {
        const ack = JSON.parse(new TextDecoder().decode(message.data)) as {
          seq?: number;
          error?: { description?: string };
        };
        if (ack.error || typeof ack.seq !== "number")
          failure ??= new Error(`publish refused: ${ack.error?.description ?? "no sequence"}`);
        else lastSeq = Math.max(lastSeq, ack.seq);
      }
      acked++;
      wake?.();
    },
  });
  try {
    await nc.flush();
    const started = performance.now();
    const deadline = started + durationMs;
    let sent = 0;
    while (failure === undefined && performance.now() < deadline) {
      // A burst, then a turn of the event loop so that the socket is written and acks are read.
      for (let burst = 0; burst < 256 && sent - acked < inFlight; burst++, sent++) {
        const { subject, data, headers } = ready[sent % ready.length]!;
        nc.publish(subject, data, { headers, reply: `${inbox}.${sent}` });
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (sent - acked < inFlight) setImmediate(resolve);
      });
      wake = undefined;
    }
    const waitUntil = performance.now() + 10_000;
    while (acked < sent && failure === undefined && performance.now() < waitUntil) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
    }
    const ms = performance.now() - started;
    if (failure) throw failure;
    if (acked < sent) throw new Error(`${sent - acked} of ${sent} publishes were never acknowledged`);
    return { rate: ratePerSecond(acked, ms), count: acked, inFlight, messageBytes, lastSeq };
  } finally {
    subscription.unsubscribe();
  }
}

/**
 * Publishes without acks for about `durationMs` (in chunks of 10000, each waited for until stored):
 * how fast the broker itself stores these messages.
 */
export async function jetStreamIngestRate(
  nc: NatsConnection,
  names: StreamNames,
  durationMs: number,
): Promise<ReadResult> {
  const store = await EventStore.open(nc, names);
  const messages = synthesize("identity", names);
  const ready = Array.from({ length: 10_000 }, () => messages.next().value!);
  let lastSeq = (await store.jsm.streams.info(names.stream)).state.last_seq;
  let count = 0;
  let ms = 0;
  while (ms < durationMs) {
    let index = 0;
    const chunk: Iterator<(typeof ready)[number]> = { next: () => ({ done: false, value: ready[index++]! }) };
    ms += (await publishUnacked(nc, store.jsm, names.stream, chunk, ready.length, lastSeq + ready.length)).ms;
    lastSeq += ready.length;
    count += ready.length;
  }
  return { rate: ratePerSecond(count, ms), count };
}

export interface ReadResult {
  readonly rate: number;
  readonly count: number;
}

/** Reads a whole stream through an ordered consumer (nothing decoded): the transport's read rate. */
export async function jetStreamReadRate(nc: NatsConnection, names: StreamNames, lastSeq: number): Promise<ReadResult> {
  const store = await EventStore.open(nc, names);
  const consumer = await store.js.consumers.get(names.stream, { deliver_policy: DeliverPolicy.All });
  const started = performance.now();
  const messages = await consumer.consume({ max_messages: 1_000 });
  let count = 0;
  for await (const message of messages) {
    count++;
    if (message.seq >= lastSeq) break;
  }
  const ms = performance.now() - started;
  await messages.close();
  return { rate: ratePerSecond(count, ms), count };
}

export interface UpsertResult {
  readonly rate: number;
  readonly count: number;
  readonly batch: number;
}

const ROW_COLUMNS =
  "(id text primary key, kind text not null, seq bigint not null, at bigint not null, body bytea not null)";

async function prepareTables(client: pg.Client, table: string): Promise<void> {
  await client.query(`create schema if not exists bench`);
  await client.query(`drop table if exists bench.${table}`);
  await client.query(`create table bench.${table} ${ROW_COLUMNS}`);
  await client.query(`create table if not exists bench.checkpoints (name text primary key, seq bigint not null)`);
  await client.query(`insert into bench.checkpoints values ($1, 0) on conflict (name) do update set seq = 0`, [table]);
}

interface Row {
  readonly id: string;
  readonly kind: string;
  readonly seq: number;
  readonly at: number;
  readonly body: Uint8Array;
}

/**
 * One transaction: the rows as one `insert ... select from unnest(...) on conflict do update`, and
 * the checkpoint row moved with a compare-and-set, as the projection runner does.
 */
async function writeBatch(
  client: pg.Client,
  table: string,
  rows: readonly Row[],
  previous: number,
  through: number,
): Promise<number> {
  await client.query("begin");
  try {
    await client.query(
      `insert into bench.${table} (id, kind, seq, at, body)
       select * from unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bytea[])
       on conflict (id) do update set kind = excluded.kind, seq = excluded.seq, at = excluded.at, body = excluded.body`,
      [
        rows.map((r) => r.id),
        rows.map((r) => r.kind),
        rows.map((r) => r.seq),
        rows.map((r) => r.at),
        rows.map((r) => Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength)),
      ],
    );
    const moved = await client.query(`update bench.checkpoints set seq = $1 where name = $2 and seq = $3`, [
      through,
      table,
      previous,
    ]);
    if (moved.rowCount !== 1) throw new Error(`checkpoint of ${table} moved away from ${previous}`);
    await client.query("commit");
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw error;
  }
  return through;
}

/** Batched upserts of event-sized rows with the checkpoint in the same transaction, for `durationMs`. */
export async function postgresUpsertRate(databaseUrl: string, durationMs: number, batch = 500): Promise<UpsertResult> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await prepareTables(client, "upsert_rows");
    const body = new Uint8Array(300).fill(7);
    let seq = 0;
    const started = performance.now();
    while (performance.now() - started < durationMs) {
      const rows = Array.from({ length: batch }, () => {
        seq++;
        return { id: `m${seq.toString(16).padStart(60, "0")}`, kind: "sponsored", seq, at: seq, body };
      });
      await writeBatch(client, "upsert_rows", rows, seq - batch, seq);
    }
    const ms = performance.now() - started;
    return { rate: ratePerSecond(seq, ms), count: seq, batch };
  } finally {
    await client.end();
  }
}

/**
 * The ideal projection: an ordered consumer reads the stream while batches of decoded events are
 * upserted with the checkpoint (read and write overlap, as in the projection runner). Its rate is
 * what a rebuild could reach on this machine.
 */
export async function readUpsertPipelineRate(
  nc: NatsConnection,
  names: StreamNames,
  lastSeq: number,
  databaseUrl: string,
  batch = 500,
): Promise<UpsertResult> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await prepareTables(client, "pipeline_rows");
    const store = await EventStore.open(nc, names);
    const consumer = await store.js.consumers.get(names.stream, { deliver_policy: DeliverPolicy.All });
    const started = performance.now();
    const messages = await consumer.consume({ max_messages: 1_000 });
    let queue: Row[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    // Reading is bounded like the runner's consumer (max_ack_pending): at most 4 batches ahead.
    let resume: (() => void) | undefined;
    const reader = (async () => {
      for await (const message of messages) {
        const envelope = decodeEnvelope(message.data);
        queue.push({
          id: envelope.aggregateId,
          kind: envelope.type,
          seq: message.seq,
          at: envelope.occurredAt?.getTime() ?? 0,
          body: message.data,
        });
        wake?.();
        if (message.seq >= lastSeq) break;
        if (queue.length >= batch * 4) await new Promise<void>((resolve) => (resume = resolve));
      }
      done = true;
      wake?.();
    })();
    let checkpoint = 0;
    let count = 0;
    for (;;) {
      if (queue.length === 0) {
        if (done) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      const rows = queue.length <= batch ? queue : queue.slice(0, batch);
      queue = queue.length <= batch ? [] : queue.slice(batch);
      resume?.();
      resume = undefined;
      // An aggregate may appear twice in one batch; keep its last row (one upsert cannot touch a row twice).
      const last = new Map<string, Row>();
      for (const row of rows) last.set(row.id, row);
      checkpoint = await writeBatch(client, "pipeline_rows", [...last.values()], checkpoint, rows.at(-1)!.seq);
      count += rows.length;
    }
    await reader;
    const ms = performance.now() - started;
    await messages.close();
    return { rate: ratePerSecond(count, ms), count, batch };
  } finally {
    await client.end();
  }
}

export interface PipelineResult {
  readonly rate: number;
  /** Events read, decoded and folded. */
  readonly count: number;
  /** Events per transaction. */
  readonly batch: number;
  /** Rows upserted (one per entity per batch). */
  readonly rows: number;
  readonly transactions: number;
}

const FOLDED_COLUMNS =
  "(id text primary key, kind text not null, first_seq bigint not null, last_seq bigint not null, at bigint not null, events integer not null, tag bytea not null)";

/**
 * The rebuild pipeline, hand-tuned: what replaying this log could reach on this machine. An
 * ordered consumer (no acks) reads the stream from its start; every event is decoded (envelope and
 * payload, as a projection needs) and folded into one row per entity (its game, proposal or
 * member: what a read model keeps); every `batch` events the folded rows go to Postgres as one
 * `insert ... select from unnest(...) on conflict do update` (array parameters built by hand, not
 * by node-postgres) with the checkpoint moved in the same transaction. One transaction is in flight
 * while the next batch is read, decoded and folded; commits do not wait for the WAL flush (a
 * rebuild that crashes is thrown away, as `pot replay` does).
 */
export async function rebuildPipelineRate(
  nc: NatsConnection,
  stream: string,
  lastSeq: number,
  databaseUrl: string,
  batch = 5_000,
): Promise<PipelineResult> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const table = `pipeline_${Math.random().toString(36).slice(2, 10)}`;
  try {
    await client.query(`create schema if not exists bench`);
    await client.query(`create table bench.${table} ${FOLDED_COLUMNS}`);
    await client.query(`create table if not exists bench.checkpoints (name text primary key, seq bigint not null)`);
    await client.query(`insert into bench.checkpoints values ($1, 0) on conflict (name) do update set seq = 0`, [
      table,
    ]);
    await client.query("set synchronous_commit = off");
    const write = async (rows: readonly FoldedRow[], previous: number, through: number): Promise<void> => {
      await client.query("begin");
      try {
        await client.query(
          `insert into bench.${table} as t (id, kind, first_seq, last_seq, at, events, tag)
           select * from unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::integer[], $7::bytea[])
           on conflict (id) do update set kind = excluded.kind, last_seq = excluded.last_seq, at = excluded.at,
             events = t.events + excluded.events, tag = excluded.tag
           where t.last_seq < excluded.last_seq`,
          [
            arrayLiteral(rows, "id"),
            arrayLiteral(rows, "kind"),
            arrayLiteral(rows, "firstSeq"),
            arrayLiteral(rows, "lastSeq"),
            arrayLiteral(rows, "at"),
            arrayLiteral(rows, "events"),
            arrayLiteral(rows, "tag"),
          ],
        );
        const moved = await client.query(`update bench.checkpoints set seq = $1 where name = $2 and seq = $3`, [
          through,
          table,
          previous,
        ]);
        if (moved.rowCount !== 1) throw new Error(`checkpoint of ${table} moved away from ${previous}`);
        await client.query("commit");
      } catch (error) {
        await client.query("rollback").catch(() => undefined);
        throw error;
      }
    };
    const consumer = await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.All });
    const started = performance.now();
    const messages = await consumer.consume({ max_messages: batch });
    const fold = new EntityFold();
    let inFlight: Promise<void> | undefined;
    let checkpoint = 0;
    let count = 0;
    let rows = 0;
    let transactions = 0;
    let inBatch = 0;
    const flush = async (through: number) => {
      const folded = fold.take();
      await inFlight;
      const previous = checkpoint;
      checkpoint = through;
      rows += folded.length;
      transactions++;
      inFlight = write(folded, previous, through);
      // Awaited before the next batch or at the end; until then a failure must not go unhandled.
      inFlight.catch(() => undefined);
    };
    for await (const message of messages) {
      const envelope = decodeEnvelope(message.data);
      fold.add(
        entityOf(envelope),
        envelope.type,
        message.seq,
        envelope.occurredAt?.getTime() ?? 0,
        message.data.subarray(message.data.length - 32),
      );
      count++;
      if (++inBatch >= batch || message.seq >= lastSeq) {
        inBatch = 0;
        await flush(message.seq);
      }
      if (message.seq >= lastSeq) break;
    }
    await inFlight;
    const ms = performance.now() - started;
    await messages.close();
    return { rate: ratePerSecond(count, ms), count, batch, rows, transactions };
  } finally {
    await client.query(`drop table if exists bench.${table}`).catch(() => undefined);
    await client.end();
  }
}

export interface VerifyResult {
  /** Verifications per second with the mechanism's verify (node:crypto, KeyObjects cached per key, strict checks), as the services check every signed request. */
  readonly mechanism: number;
  /** The same signatures through node:crypto (OpenSSL), the key object made once. */
  readonly nodeCrypto: number;
}

/** Ed25519 verifications per second on one core, the mechanism's way and Node's native way. */
export function signatureVerifyRate(durationMs: number): VerifyResult {
  const keys = generateKeyPair();
  const message = new Uint8Array(120).fill(7);
  const signature = sign(message, keys.secretKey);
  const spki = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), Buffer.from(keys.publicKey)]);
  const key = createPublicKey({ key: spki, format: "der", type: "spki" });
  const rate = (check: () => boolean) => {
    const started = performance.now();
    let count = 0;
    while (performance.now() - started < durationMs) {
      if (!check()) throw new Error("a valid signature did not verify");
      count++;
    }
    return ratePerSecond(count, performance.now() - started);
  };
  return {
    mechanism: rate(() => verify(signature, message, keys.publicKey)),
    nodeCrypto: rate(() => verifyNative(null, message, key, signature)),
  };
}
