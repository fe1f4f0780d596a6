import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sql } from "kysely";
import { readCheckpoint } from "./checkpoint.table.js";
import { openDatabase, type Database } from "./database.js";
import { startProjection, type ProjectionRunner, type StartProjectionOptions } from "./projection-runner.js";
import {
  counterMigrations,
  counterProjection,
  counts,
  createTestDatabase,
  createTestStream,
  eventually,
  publish,
  randomHex,
  serversUnavailable,
  tally,
  type CounterDB,
  type TestDatabase,
  type TestStream,
} from "./test-support.js";

// Two replicas of a service run the same projection: a Postgres advisory lock elects one leader,
// which alone consumes; the other follows the checkpoint and takes over when the leader goes.

const skip = await serversUnavailable();
let database: TestDatabase;
let stream: TestStream;
let pot: Database<CounterDB>;
const runners: ProjectionRunner[] = [];

before(async () => {
  if (skip) return;
  database = await createTestDatabase();
  stream = await createTestStream();
  pot = await openDatabase<CounterDB>({ url: database.url, schema: "svc", migrations: counterMigrations });
});

after(async () => {
  await Promise.all(runners.map((runner) => runner.stop()));
  await pot?.close();
  await stream?.drop();
  await database?.drop();
});

function scenario() {
  const type = `k${randomHex()}`;
  const name = `p_${type}`;
  const start = (extra: Partial<StartProjectionOptions<CounterDB>> = {}) =>
    startProjection({
      db: pot.db,
      store: stream.store,
      deadLetters: stream.deadLetters,
      sourceStream: stream.store.names.stream,
      durable: `d_${type}`,
      filterSubject: `${stream.store.names.prefix}.${type}.*`,
      projection: counterProjection(name),
      standbyPollMs: 50,
      lockCheckMs: 100,
      ...extra,
    }).then((runner) => {
      runners.push(runner);
      return runner;
    });
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `${type}a${i % 3}`);
  return { type, name, start, ids };
}

test("one runner leads, the other stands by following the checkpoint, then takes over", { skip }, async () => {
  const s = scenario();
  const leader = await s.start();
  const standby = await s.start();
  assert.equal(leader.isLeader(), true);
  assert.equal(standby.isLeader(), false);

  const first = s.ids(12);
  const last = (await publish(stream.store, s.type, first)).at(-1)!.seq;
  assert.equal(await leader.waitFor(last, 10_000), true);
  assert.equal(await standby.waitFor(last, 5_000), true, "the standby's position follows the checkpoint");
  assert.deepEqual(await counts(pot.db, s.name), tally(first));

  await leader.stop();
  await eventually(async () => assert.equal(standby.isLeader(), true), 5_000);
  const second = s.ids(9);
  const end = (await publish(stream.store, s.type, second)).at(-1)!.seq;
  assert.equal(await standby.waitFor(end, 10_000), true);
  assert.deepEqual(await counts(pot.db, s.name), tally([...first, ...second]), "every event applied once");
  assert.equal(await readCheckpoint(pot.db, s.name), end);
});

test("a leader whose lock connection dies steps down; nothing is applied twice meanwhile", { skip }, async () => {
  const s = scenario();
  const a = await s.start();
  const b = await s.start();
  const [leader, standby] = a.isLeader() ? [a, b] : [b, a];
  const before = s.ids(6);
  await publish(stream.store, s.type, before);

  // The server ends the session holding the lock, as when the leader's host or network fails.
  const { rows } = await sql<{ pid: number }>`
    select pid from pg_locks
    where locktype = 'advisory' and granted and classid = hashtext('pot.projection')::oid
      and objid = hashtext('svc.' || ${s.name})::oid
  `.execute(pot.db);
  assert.equal(rows.length, 1, "one session holds the projection's lock");
  await sql`select pg_terminate_backend(${rows[0]!.pid})`.execute(pot.db);

  await eventually(async () => assert.equal(standby.isLeader(), true, "the standby took the lock"), 5_000);
  await eventually(async () => assert.equal(leader.isLeader(), false, "the old leader noticed"), 5_000);
  const after = s.ids(9);
  const end = (await publish(stream.store, s.type, after)).at(-1)!.seq;
  assert.equal(await standby.waitFor(end, 10_000), true);
  assert.equal(await leader.waitFor(end, 5_000), true, "the old leader follows as a standby now");
  assert.deepEqual(await counts(pot.db, s.name), tally([...before, ...after]));
});

test("leaderLock: false runs without an election (a rebuild in a schema of its own)", { skip }, async () => {
  const s = scenario();
  const runner = await s.start({ leaderLock: false });
  assert.equal(runner.isLeader(), true);
  const ids = s.ids(5);
  const last = (await publish(stream.store, s.type, ids)).at(-1)!.seq;
  assert.equal(await runner.waitFor(last, 10_000), true);
  assert.deepEqual(await counts(pot.db, s.name), tally(ids));
});
