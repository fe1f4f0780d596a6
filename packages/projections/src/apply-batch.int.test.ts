import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { applyBatch, type Projection } from "./apply-batch.js";
import { readCheckpoint } from "./checkpoint.table.js";
import { openDatabase, type Database } from "./database.js";
import { StaleCheckpointError } from "./errors.js";
import {
  counterMigrations,
  counterProjection,
  counts,
  createTestDatabase,
  serversUnavailable,
  storedEvent,
  type CounterDB,
  type TestDatabase,
} from "./test-support.js";

const skip = await serversUnavailable();
let database: TestDatabase;
let pot: Database<CounterDB>;

before(async () => {
  if (skip) return;
  database = await createTestDatabase();
  pot = await openDatabase<CounterDB>({ url: database.url, schema: "svc", migrations: counterMigrations });
});

after(async () => {
  await pot?.close();
  await database?.drop();
});

const batch = (...specs: [number, string][]) => specs.map(([seq, id]) => storedEvent(seq, id));

test("a batch is applied and the checkpoint moves to its last event in the same transaction", { skip }, async () => {
  const projection = counterProjection("applies");
  assert.equal(await readCheckpoint(pot.db, "applies"), 0);
  assert.equal(await applyBatch(pot.db, projection, batch([2, "a"], [4, "b"], [7, "a"])), 7);
  assert.deepEqual(await counts(pot.db, "applies"), { a: 2, b: 1 });
  assert.equal(await readCheckpoint(pot.db, "applies"), 7);
});

test("a redelivered batch applies nothing, an overlapping one only what is new", { skip }, async () => {
  const projection = counterProjection("redelivered");
  const first = batch([1, "a"], [2, "b"], [3, "a"]);
  assert.equal(await applyBatch(pot.db, projection, first), 3);
  assert.equal(await applyBatch(pot.db, projection, first), 3);
  assert.deepEqual(await counts(pot.db, "redelivered"), { a: 2, b: 1 });
  assert.equal(await applyBatch(pot.db, projection, batch([2, "b"], [3, "a"], [5, "c"])), 5);
  assert.deepEqual(await counts(pot.db, "redelivered"), { a: 2, b: 1, c: 1 });
  assert.equal(await readCheckpoint(pot.db, "redelivered"), 5);
});

test("a stale expected checkpoint is refused and writes nothing", { skip }, async () => {
  const projection = counterProjection("stale");
  assert.equal(await applyBatch(pot.db, projection, batch([1, "a"], [2, "a"]), 0), 2);
  await assert.rejects(applyBatch(pot.db, projection, batch([3, "a"], [4, "b"]), 1), (error: unknown) => {
    assert.ok(error instanceof StaleCheckpointError);
    assert.equal(error.name, "StaleCheckpointError");
    assert.equal(error.projection, "stale");
    assert.equal(error.expected, 1);
    assert.equal(error.actual, 2);
    return true;
  });
  // Also refused when the writer thinks nothing was applied yet.
  await assert.rejects(applyBatch(pot.db, projection, batch([3, "c"]), 0), StaleCheckpointError);
  assert.deepEqual(await counts(pot.db, "stale"), { a: 2 });
  assert.equal(await readCheckpoint(pot.db, "stale"), 2);
  assert.equal(await applyBatch(pot.db, projection, batch([3, "a"], [4, "b"]), 2), 4);
  assert.deepEqual(await counts(pot.db, "stale"), { a: 3, b: 1 });
});

test("a projection that fails leaves neither rows nor checkpoint behind", { skip }, async () => {
  const counter = counterProjection("fails");
  const failing: Projection<CounterDB> = {
    name: "fails",
    async apply(trx, events) {
      await counter.apply(trx, events);
      throw new Error("projection bug");
    },
  };
  await assert.rejects(applyBatch(pot.db, failing, batch([1, "a"])), /projection bug/);
  assert.deepEqual(await counts(pot.db, "fails"), {});
  assert.equal(await readCheckpoint(pot.db, "fails"), 0);
});

test("concurrent writers of one projection apply each event once", { skip }, async () => {
  const projection = counterProjection("concurrent");
  const events = batch(...Array.from({ length: 50 }, (_, i): [number, string] => [i + 1, `a${i % 5}`]));
  const results = await Promise.all(Array.from({ length: 4 }, () => applyBatch(pot.db, projection, events)));
  assert.deepEqual(results, [50, 50, 50, 50]);
  assert.deepEqual(await counts(pot.db, "concurrent"), { a0: 10, a1: 10, a2: 10, a3: 10, a4: 10 });
});

test("events out of sequence order are refused before anything is written", { skip }, async () => {
  const projection = counterProjection("unordered");
  await assert.rejects(applyBatch(pot.db, projection, batch([2, "a"], [1, "a"])), /ascending sequence order/);
  assert.deepEqual(await counts(pot.db, "unordered"), {});
  assert.equal(await readCheckpoint(pot.db, "unordered"), 0);
});
