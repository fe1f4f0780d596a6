import { Kysely, PostgresDialect, sql } from "kysely";
import { Migrator, type Migration } from "kysely/migration";
import pg from "pg";
import { silentLogger, type Logger } from "@pot/event-store";
import { CHECKPOINT_TABLE } from "./checkpoint.table.js";
import { messageOf } from "./errors.js";

export interface Database<DB> {
  /** The writer: the projections (and migrations) use it. */
  readonly db: Kysely<DB>;
  /**
   * The query path's connection: `queryUrl`'s role (one that may only read the schema) in
   * read-only transactions; the writer's pool in read-only transactions when no `queryUrl` is set.
   */
  readonly queryDb: Kysely<DB>;
  readonly pool: pg.Pool;
  readonly schema: string;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  readonly url: string;
  /** The service's schema: every pooled connection's search_path, and home of its migrations. */
  readonly schema: string;
  /** Frozen migrations by ISO-timestamp name, run in name order. */
  readonly migrations: Record<string, Migration>;
  readonly logger?: Logger;
  readonly maxConnections?: number;
  /** DATABASE_QUERY_URL: the read-only role the queries connect as (docs/security.md). */
  readonly queryUrl?: string;
  /** Connections of the query pool (default: maxConnections). */
  readonly maxQueryConnections?: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Opens the service's schema: creates it and the checkpoint table when missing, then runs its
 * migrations (their bookkeeping tables live in the schema too). Unqualified names in queries
 * resolve to the schema through each connection's search_path.
 */
export async function openDatabase<DB>(options: OpenDatabaseOptions): Promise<Database<DB>> {
  const logger = options.logger ?? silentLogger;
  const schema = assertSchemaName(options.schema);
  const where = describeUrl(options.url);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client whose server goes away emits "error" on the pool; unheard, it would end the process.
  pool.on("error", (error) => logger.warn({ err: error, schema }, "idle Postgres connection failed"));
  // A client checked out between two queries (a projection's leader lock holds one for hours) emits
  // "error" on itself, which the pool does not listen to while the client is out: listen for good.
  // Its next query fails, and the pool drops it when it comes back.
  pool.on("connect", (client) =>
    client.on("error", (error) => logger.debug({ err: error, schema }, "Postgres connection failed")),
  );
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  // The query path: its own pool, every transaction read-only (and, with a queryUrl, a role that
  // holds no write privilege at all, which is the boundary; read-only transactions are a second line).
  const queryPool = new pg.Pool({
    connectionString: options.queryUrl ?? options.url,
    max: options.maxQueryConnections ?? options.maxConnections ?? 10,
    options: `-c search_path=${schema} -c default_transaction_read_only=on`,
    connectionTimeoutMillis: 10_000,
  });
  queryPool.on("error", (error) => logger.warn({ err: error, schema }, "idle Postgres query connection failed"));
  queryPool.on("connect", (client) =>
    client.on("error", (error) => logger.debug({ err: error, schema }, "Postgres query connection failed")),
  );
  const queryDb = new Kysely<DB>({ dialect: new PostgresDialect({ pool: queryPool }) });
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= Promise.all([db.destroy(), queryDb.destroy()]).then(() => undefined));

  try {
    await sql`select 1`.execute(db);
  } catch (error) {
    await close();
    throw new Error(`Cannot connect to Postgres at ${where}: ${messageOf(error)}.`, { cause: error });
  }
  try {
    await db.transaction().execute(async (trx) => {
      // Two processes opening the same schema at once would otherwise race on CREATE ... IF NOT EXISTS.
      await sql`select pg_advisory_xact_lock(hashtext(${`pot.schema.${schema}`}))`.execute(trx);
      // A service's role owns its schema (made by provisionServiceRoles) but may not create schemas:
      // CREATE SCHEMA IF NOT EXISTS checks that privilege even when the schema exists.
      const { rows } = await sql<{
        found: number;
      }>`select 1 as found from pg_namespace where nspname = ${schema}`.execute(trx);
      if (rows.length === 0) await trx.schema.createSchema(schema).execute();
      await trx.schema
        .withSchema(schema)
        .createTable(CHECKPOINT_TABLE)
        .ifNotExists()
        .addColumn("name", "text", (column) => column.primaryKey())
        .addColumn("seq", "bigint", (column) => column.notNull())
        .execute();
    });
  } catch (error) {
    await close();
    throw new Error(`Cannot prepare schema ${schema} in Postgres at ${where}: ${messageOf(error)}.`, { cause: error });
  }

  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => options.migrations },
    migrationTableSchema: schema,
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error !== undefined) {
    await close();
    const failed = results.find((result) => result.status === "Error")?.migrationName ?? "(before any migration ran)";
    throw new Error(`Migration ${failed} of schema ${schema} failed: ${messageOf(error)}.`, { cause: error });
  }
  const applied = results.filter((result) => result.status === "Success").map((result) => result.migrationName);
  logger.info({ schema, applied }, applied.length > 0 ? "database migrated" : "database up to date");

  if (options.queryUrl !== undefined) {
    try {
      await sql`select 1`.execute(queryDb);
    } catch (error) {
      await close();
      throw new Error(
        `Cannot connect to Postgres for queries at ${describeUrl(options.queryUrl)} (DATABASE_QUERY_URL): ${messageOf(error)}.`,
        { cause: error },
      );
    }
  }

  return { db, queryDb, pool, schema, close };
}

export function assertSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new Error(
      `Schema name '${schema}' is invalid: use 1-63 characters of a-z, 0-9 and '_', not starting with a digit.`,
    );
  }
  return schema;
}

/** The URL without its password, for messages; throws when it is not a postgres URL. */
export function describeUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new Error("Database URL is not a valid URL (expected postgres://user@host:port/database).", { cause: error });
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new Error(`Database URL '${redact(parsed)}' is not a postgres:// URL.`);
  }
  return redact(parsed);
}

function redact(url: URL): string {
  if (url.password === "") return url.href;
  const copy = new URL(url.href);
  copy.password = "***";
  return copy.href;
}
