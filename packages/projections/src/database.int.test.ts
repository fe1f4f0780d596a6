import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, test } from "node:test";
import { sql } from "kysely";
import { openDatabase, type Database } from "./database.js";
import {
  counterMigrations,
  createTestDatabase,
  serversUnavailable,
  type CounterDB,
  type TestDatabase,
} from "./test-support.js";

const skip = await serversUnavailable();
let database: TestDatabase;
const opened: Database<unknown>[] = [];

before(async () => {
  if (!skip) database = await createTestDatabase();
});

after(async () => {
  for (const db of opened) await db.close();
  await database?.drop();
});

async function open<DB>(schema: string, migrations = counterMigrations): Promise<Database<DB>> {
  const db = await openDatabase<DB>({ url: database.url, schema, migrations, maxConnections: 2 });
  opened.push(db as Database<unknown>);
  return db;
}

async function tablesOf(db: Database<unknown>, schema: string): Promise<string[]> {
  const { rows } = await sql<{ table_name: string }>`
    select table_name from information_schema.tables where table_schema = ${schema} order by table_name`.execute(db.db);
  return rows.map((row) => row.table_name);
}

test("openDatabase creates the schema, the checkpoint table and the migrated tables inside it", { skip }, async () => {
  const db = await open<CounterDB>("svc_a");
  assert.equal(db.schema, "svc_a");
  assert.deepEqual(await tablesOf(db as Database<unknown>, "svc_a"), [
    "event_counts",
    "kysely_migration",
    "kysely_migration_lock",
    "projection_checkpoints",
  ]);
  assert.deepEqual(await tablesOf(db as Database<unknown>, "public"), []);
  // Every pooled connection resolves unqualified names in the schema.
  const paths = await Promise.all(
    [1, 2, 3].map(() =>
      sql<{ search_path: string }>`show search_path`.execute(db.db).then((r) => r.rows[0]?.search_path),
    ),
  );
  assert.deepEqual(paths, ["svc_a", "svc_a", "svc_a"]);
  await db.db
    .insertInto("event_counts")
    .values({ projection: "p", aggregate_id: "x", events: 1, last_seq: 1 })
    .execute();
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from svc_a.event_counts`.execute(db.db);
  assert.equal(rows[0]?.n, 1);
});

test("reopening runs only new migrations, and another schema is kept apart", { skip }, async () => {
  const migrations = {
    ...counterMigrations,
    "2026-02-01T00:00:00Z_notes": {
      up: async (db: import("kysely").Kysely<unknown>) =>
        db.schema.createTable("notes").addColumn("id", "text").execute(),
    },
  };
  const again = await open<CounterDB>("svc_a", migrations);
  const { rows } = await sql<{ name: string }>`select name from svc_a.kysely_migration order by name`.execute(again.db);
  assert.deepEqual(
    rows.map((row) => row.name),
    Object.keys(migrations),
  );
  assert.equal(
    (await again.db.selectFrom("event_counts").selectAll().execute()).length,
    1,
    "data of the first open kept",
  );

  const other = await open<CounterDB>("svc_b");
  assert.deepEqual(await other.db.selectFrom("event_counts").selectAll().execute(), []);
  assert.ok(!(await tablesOf(other as Database<unknown>, "svc_b")).includes("notes"));
});

test("a failing migration is named in the error", { skip }, async () => {
  const migrations = {
    "2026-03-01T00:00:00Z_broken": {
      up: async (db: import("kysely").Kysely<unknown>) => void (await sql`select * from nowhere`.execute(db)),
    },
  };
  await assert.rejects(open("svc_c", migrations), (error: Error) => {
    assert.match(
      error.message,
      /^Migration 2026-03-01T00:00:00Z_broken of schema svc_c failed: relation "nowhere" does not exist\.$/,
    );
    return true;
  });
});

test("a bad URL or an unreachable server fails with one clear sentence", { skip }, async () => {
  const attempt = (url: string, schema = "svc") => openDatabase({ url, schema, migrations: {} });
  await assert.rejects(attempt("not a url"), {
    message: "Database URL is not a valid URL (expected postgres://user@host:port/database).",
  });
  await assert.rejects(attempt("mysql://root@127.0.0.1/x"), {
    message: "Database URL 'mysql://root@127.0.0.1/x' is not a postgres:// URL.",
  });
  await assert.rejects(attempt(database.url, "Bad-Name"), /^Error: Schema name 'Bad-Name' is invalid/);
  const port = await closedPort();
  await assert.rejects(attempt(`postgres://postgres:secret@127.0.0.1:${port}/x`), (error: Error) => {
    assert.equal(
      error.message,
      `Cannot connect to Postgres at postgres://postgres:***@127.0.0.1:${port}/x: connect ECONNREFUSED 127.0.0.1:${port}.`,
    );
    assert.ok(!error.message.includes("secret"));
    return true;
  });
  const missing = new URL(database.url);
  missing.pathname = "/pot_t_missing";
  await assert.rejects(
    attempt(missing.href),
    /^Error: Cannot connect to Postgres at .*: database "pot_t_missing" does not exist\.$/,
  );
});

/** A local port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as import("node:net").AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
