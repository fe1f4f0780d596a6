import { randomBytes } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { sql, type Kysely } from "kysely";
import pg from "pg";
import {
  natsConnectOptions,
  natsInboxPrefix,
  reasonOf,
  silentLogger,
  type Logger,
  type StoredEvent,
} from "@pot/event-store";
import {
  openDatabase,
  projectionSource,
  readModelSchema,
  type Database,
  type Projection,
  type ReadModels,
} from "@pot/projections";
import { digestWith } from "./digest.js";
import { READ_MODELS } from "./read-models.js";
import { StreamReader } from "./stream-reader.js";
import type { ReplayOptions, ReplayProgress, ReplayResult, SkippedMessage, TableDigest } from "./types.js";

/** Events applied per transaction. */
const BATCH = 5_000;
/** How long an idle reader waits for more before it counts as caught up. */
const IDLE_MS = 100;
/** How long the swap waits for the live projections' batch in hand. */
const LOCK_TIMEOUT_MS = 10_000;
const SWAP_ATTEMPTS = 3;
const PROGRESS_EVERY_MS = 250;

/**
 * Rebuilds every projection of a service from the start of its stream into a fresh schema, then
 * swaps that schema in for the live one in one transaction while the service keeps answering.
 *
 * 1. The fresh schema `<schema>_rebuild_<hex>` gets the service's migrations; its secondary
 *    indexes are dropped for the bulk load and built again at the end. Each projection reads its
 *    stream through an ordered consumer and applies batches of a few thousand events, each in one
 *    transaction with its checkpoint (without waiting for the WAL flush: a crashed rebuild is
 *    simply thrown away), decoding the next batch while Postgres writes the previous one.
 * 2. The swap locks the live checkpoint table (EXCLUSIVE: the live runners' next batch waits, queries
 *    do not), applies whatever the live projections are ahead by, digests the fresh tables, renames
 *    the live schema away and the fresh one to the live name, and commits. The live runners'
 *    waiting batch then finds a checkpoint other than the one it expected (StaleCheckpointError),
 *    rereads it and restarts its durable consumer right after it: the service goes on from the
 *    rebuilt state. The old schema is dropped.
 *
 * One replay per schema at a time (a Postgres advisory lock); schemas left by an interrupted
 * replay are dropped when the next one starts.
 */
export async function replay(options: ReplayOptions): Promise<ReplayResult> {
  const started = performance.now();
  const logger = options.logger ?? silentLogger;
  const models = READ_MODELS[options.service];
  const live = readModelSchema(options.namespace, models);
  const tag = randomBytes(4).toString("hex");
  const fresh = `${live}_rebuild_${tag}`;
  const retired = `${live}_retired_${tag}`;
  const context = { service: options.service, schema: live };

  const admin = new pg.Client({ connectionString: options.databaseUrl });
  admin.on("error", (error) => logger.warn({ ...context, err: error }, "replay's Postgres connection failed"));
  await admin.connect();
  let database: Database<unknown> | undefined;
  let nc: NatsConnection | undefined;
  const builds: Build[] = [];
  let swapped = false;
  try {
    const { rows } = await admin.query<{ locked: boolean }>(
      "select pg_try_advisory_lock(hashtext('pot.replay'), hashtext($1)) as locked",
      [live],
    );
    if (!rows[0]?.locked) throw new Error(`a replay of ${options.service} (schema ${live}) is already running`);
    await dropLeftovers(admin, live, logger);

    database = await openDatabase<unknown>({
      url: options.databaseUrl,
      schema: fresh,
      migrations: models.migrations,
      logger,
      maxConnections: 2,
    });
    const indexes = await dropSecondaryIndexes(admin, fresh);
    nc = await connect({
      ...natsConnectOptions(options.natsUrl, options.natsCredentials),
      inboxPrefix: natsInboxPrefix(options.namespace, "reader"),
      name: `${options.namespace}-replay-${options.service}`,
    });
    const js = jetstream(nc);
    const progress = throttledProgress(options, builds, started);
    for (const entry of models.projections) {
      const source = projectionSource(options.namespace, models, entry);
      const reader = await StreamReader.open(js, source.stream, {
        compact: true,
        ...(source.filterSubject ? { filterSubject: source.filterSubject } : {}),
      });
      builds.push(new Build(entry.projection, reader, database.db, progress, logger));
    }
    logger.info({ ...context, fresh, projections: builds.map((b) => b.name) }, "replay started");

    // The rate counts from here: reading and applying, not creating the schema and the consumers.
    const reading = performance.now();
    await Promise.all(builds.map((build) => build.run()));
    const replayMs = performance.now() - reading;
    await rebuildIndexes(admin, indexes);
    for (const table of models.tables) await admin.query(`analyze ${quote(fresh)}.${quote(table)}`);
    // Whatever arrived while the indexes were built.
    await Promise.all(builds.map((build) => build.run()));

    const tables = await swap(admin, { live, fresh, retired, models, builds, logger, context });
    swapped = true;
    progress(true);
    const events = builds.reduce((sum, build) => sum + build.applied, 0);
    const seconds = (performance.now() - started) / 1_000;
    const result: ReplayResult = {
      service: options.service,
      events,
      skipped: builds.flatMap((build) => build.skipped),
      seconds,
      eventsPerSecond: replayMs > 0 ? Math.round((events / replayMs) * 1_000) : 0,
      tables,
    };
    logger.info({ ...context, events, seconds, eventsPerSecond: result.eventsPerSecond }, "replay swapped in");
    return result;
  } finally {
    await Promise.allSettled(builds.map((build) => build.reader.close()));
    await nc?.close().catch(() => undefined);
    await database?.close().catch(() => undefined);
    await dropSchema(admin, swapped ? retired : fresh, logger);
    await admin.query("select pg_advisory_unlock(hashtext('pot.replay'), hashtext($1))", [live]).catch(() => undefined);
    await admin.end().catch(() => undefined);
  }
}

/** One projection rebuilt from its stream into the fresh schema. */
class Build {
  /** Stream sequence the fresh tables have applied (their checkpoint). */
  position = 0;
  /** Events applied so far. */
  applied = 0;
  /** Messages skipped so far: undecodable, or that the projection cannot apply. */
  readonly skipped: SkippedMessage[] = [];
  /** Sequence of the last event handed to a transaction (ahead of position while one is in flight). */
  private scheduled = 0;

  constructor(
    private readonly projection: Projection<unknown>,
    readonly reader: StreamReader,
    private readonly db: Kysely<unknown>,
    private readonly onApplied: () => void,
    private readonly logger: Logger,
  ) {}

  get name(): string {
    return this.projection.name;
  }

  /**
   * Applies batches until the reader has caught up with the stream, or, with `throughSeq`, until
   * the fresh tables have applied that sequence. One transaction is in flight while the next batch
   * is read and decoded.
   */
  async run(throughSeq?: number): Promise<void> {
    let inFlight: Promise<void> | undefined;
    try {
      for (;;) {
        if (throughSeq !== undefined && this.scheduled >= throughSeq) break;
        const { events, undecodable, lastSeq, caughtUp } = await this.reader.take(BATCH, IDLE_MS);
        this.skip(undecodable);
        if (lastSeq > 0) {
          // The projection's database-free work (decoding payloads, building rows) overlaps the
          // transaction in flight, as in the live runner.
          const prepared = this.prepare(events);
          await inFlight;
          this.scheduled = lastSeq;
          inFlight = this.apply(events, lastSeq, prepared);
          // Awaited before the next batch or below; until then a failure must not go unhandled.
          inFlight.catch(() => undefined);
        }
        if (throughSeq === undefined && caughtUp) break;
      }
    } finally {
      await inFlight;
    }
  }

  /**
   * The projection's prepare(events), or undefined when it has none or it throws: a batch holding an
   * event it cannot make sense of is then applied without it, and fails there, where such an event
   * is found and skipped (see apply).
   */
  private prepare(events: readonly StoredEvent[]): unknown {
    if (events.length === 0 || !this.projection.prepare) return undefined;
    try {
      return this.projection.prepare(events);
    } catch {
      return undefined;
    }
  }

  /**
   * Applies a batch and moves the checkpoint to `through` (past undecodable messages too). A batch
   * the projection cannot apply is applied again one event per transaction, and an event that
   * fails alone is skipped and reported, as the live runner dead-letters it. `prepared` is the
   * projection's prepare(events), used for the whole batch only.
   */
  private async apply(events: readonly StoredEvent[], through: number, prepared: unknown): Promise<void> {
    try {
      await this.transaction(events, through, prepared);
      this.applied += events.length;
    } catch (error) {
      if (events.length === 0 || !(await poisonable(error, this.db))) throw error;
      for (const [index, event] of events.entries()) {
        const upTo = index === events.length - 1 ? through : event.seq;
        try {
          await this.transaction([event], upTo, undefined);
          this.applied++;
        } catch (alone) {
          if (!(await poisonable(alone, this.db))) throw alone;
          this.skip([{ stream: this.reader.stream, seq: event.seq, subject: event.subject, reason: reasonOf(alone) }]);
          await this.transaction([], upTo, undefined);
        }
      }
    }
    this.position = through;
    this.onApplied();
  }

  private async transaction(events: readonly StoredEvent[], through: number, prepared: unknown): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await sql`set local synchronous_commit = off`.execute(trx);
      if (events.length > 0) await this.projection.apply(trx, events, prepared);
      await sql`
        insert into projection_checkpoints (name, seq) values (${this.projection.name}, ${through})
        on conflict (name) do update set seq = excluded.seq
      `.execute(trx);
    });
  }

  private skip(messages: readonly SkippedMessage[]): void {
    for (const message of messages) {
      this.skipped.push(message);
      this.logger.error(
        {
          projection: this.name,
          stream: message.stream,
          seq: message.seq,
          subject: message.subject,
          reason: message.reason,
        },
        "replay skipped a message it cannot apply",
      );
    }
  }
}

/**
 * Whether a failed transaction may be an event's fault rather than the database's (the live
 * runner's rule): a data or constraint error (SQLSTATE 22, 23), or an error of the projection's own
 * while the database answers.
 */
async function poisonable(error: unknown, db: Kysely<unknown>): Promise<boolean> {
  if (error instanceof Error && (error.name === "ValidationError" || error.name === "DeadLetterError")) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") return /^2[23][0-9A-Z]{3}$/.test(code);
  try {
    await sql`select 1`.execute(db);
    return true;
  } catch {
    return false;
  }
}

interface SwapPlan {
  readonly live: string;
  readonly fresh: string;
  readonly retired: string;
  readonly models: ReadModels<unknown>;
  readonly builds: readonly Build[];
  readonly logger: Logger;
  readonly context: Record<string, unknown>;
}

/** Renames the fresh schema into the live one's place, atomically; returns the digests it swapped in. */
async function swap(admin: pg.Client, plan: SwapPlan): Promise<TableDigest[]> {
  const { live, fresh, retired, builds, logger, context } = plan;
  for (let attempt = 1; ; attempt++) {
    await admin.query("begin");
    try {
      await admin.query(`set local lock_timeout = ${LOCK_TIMEOUT_MS}`);
      const exists = ((await admin.query("select 1 from pg_namespace where nspname = $1", [live])).rowCount ?? 0) > 0;
      const liveCheckpoints = new Map<string, number>();
      if (exists) {
        // The live runners take this table's row FOR UPDATE at the start of every batch: from here
        // on they wait, and their checkpoints stand still, while queries go on reading.
        await admin.query(`lock table ${quote(live)}.projection_checkpoints in exclusive mode`);
        const { rows } = await admin.query<{ name: string; seq: string }>(
          `select name, seq from ${quote(live)}.projection_checkpoints`,
        );
        for (const row of rows) liveCheckpoints.set(row.name, Number(row.seq));
      }
      for (const build of builds) {
        const ahead = liveCheckpoints.get(build.name) ?? 0;
        if (build.position < ahead) {
          logger.info(
            { ...context, projection: build.name, rebuilt: build.position, live: ahead },
            "catching up with the live projection",
          );
          await build.run(ahead);
        }
      }
      if (exists) {
        // Checkpoints of anything the rebuild does not own carry over unchanged.
        await admin.query(
          `insert into ${quote(fresh)}.projection_checkpoints (name, seq)
           select name, seq from ${quote(live)}.projection_checkpoints where not (name = any($1::text[]))
           on conflict (name) do nothing`,
          [builds.map((build) => build.name)],
        );
      }
      const tables = await digestWith(admin, fresh, plan.models.tables);
      if (exists) await admin.query(`alter schema ${quote(live)} rename to ${quote(retired)}`);
      await admin.query(`alter schema ${quote(fresh)} rename to ${quote(live)}`);
      await admin.query("commit");
      logger.info(
        { ...context, checkpoints: Object.fromEntries(builds.map((b) => [b.name, b.position])) },
        "rebuilt schema swapped in",
      );
      return tables;
    } catch (error) {
      await admin.query("rollback").catch(() => undefined);
      // 55P03 lock_not_available: a live batch held the checkpoint table longer than the timeout.
      if ((error as { code?: string }).code === "55P03" && attempt < SWAP_ATTEMPTS) {
        logger.warn(
          { ...context, attempt },
          "the live projections kept the checkpoint table locked; retrying the swap",
        );
        continue;
      }
      throw error;
    }
  }
}

function throttledProgress(options: ReplayOptions, builds: readonly Build[], started: number) {
  let last = 0;
  return (final = false) => {
    if (!options.onProgress) return;
    const now = performance.now();
    if (!final && now - last < PROGRESS_EVERY_MS) return;
    last = now;
    const applied = builds.reduce((sum, build) => sum + build.applied, 0);
    const progress: ReplayProgress = {
      service: options.service,
      applied,
      total: applied + builds.reduce((sum, build) => sum + build.reader.backlog, 0),
      eventsPerSecond: Math.round((applied / Math.max(1, now - started)) * 1_000),
    };
    options.onProgress(progress);
  };
}

interface IndexDefinition {
  readonly name: string;
  readonly definition: string;
}

/** Drops the schema's indexes that back no constraint (upserts need the primary keys); returns them. */
async function dropSecondaryIndexes(admin: pg.Client, schema: string): Promise<IndexDefinition[]> {
  const { rows } = await admin.query<{ name: string; definition: string }>(
    `select indexname as name, indexdef as definition from pg_indexes
     where schemaname = $1
       and indexname not in (select conname from pg_constraint where connamespace = $1::regnamespace)`,
    [schema],
  );
  for (const { name } of rows) await admin.query(`drop index ${quote(schema)}.${quote(name)}`);
  return rows;
}

async function rebuildIndexes(admin: pg.Client, indexes: readonly IndexDefinition[]): Promise<void> {
  await admin.query("set maintenance_work_mem = '256MB'");
  for (const { definition } of indexes) await admin.query(definition);
  await admin.query("reset maintenance_work_mem");
}

/** Schemas of earlier replays of `live` that did not finish (the caller holds the replay lock). */
async function dropLeftovers(admin: pg.Client, live: string, logger: Logger): Promise<void> {
  const { rows } = await admin.query<{ name: string }>(
    `select nspname as name from pg_namespace where nspname ~ ('^' || $1 || '_(rebuild|retired)_[0-9a-f]{8}$')`,
    [live],
  );
  for (const { name } of rows) await dropSchema(admin, name, logger);
}

async function dropSchema(admin: pg.Client, schema: string, logger: Logger): Promise<void> {
  try {
    await admin.query(`set lock_timeout = ${LOCK_TIMEOUT_MS}`);
    await admin.query(`drop schema if exists ${quote(schema)} cascade`);
  } catch (error) {
    logger.warn({ err: error, schema }, "could not drop a replay's schema; the next replay will");
  } finally {
    await admin.query("reset lock_timeout").catch(() => undefined);
  }
}

function quote(identifier: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(identifier)) throw new Error(`'${identifier}' is not a plain identifier`);
  return `"${identifier}"`;
}
