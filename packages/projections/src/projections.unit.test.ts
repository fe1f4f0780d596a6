import assert from "node:assert/strict";
import { test } from "node:test";
import { assertOrdered, unapplied } from "./apply-batch.js";
import { assertSchemaName, describeUrl } from "./database.js";
import { Inbox } from "./inbox.js";
import { storedEvent } from "./test-support.js";
import { Waiters } from "./waiters.js";

const events = [3, 5, 8].map((seq) => storedEvent(seq, "a"));

test("unapplied keeps only the events past the checkpoint", () => {
  assert.deepEqual(
    unapplied(events, 0).map((event) => event.seq),
    [3, 5, 8],
  );
  assert.deepEqual(
    unapplied(events, 5).map((event) => event.seq),
    [8],
  );
  assert.deepEqual(
    unapplied(events, 4).map((event) => event.seq),
    [5, 8],
  );
  assert.deepEqual(unapplied(events, 8), []);
});

test("a batch out of sequence order, or ending before its last event, is refused", () => {
  assert.doesNotThrow(() => assertOrdered(events, 8));
  assert.doesNotThrow(() => assertOrdered(events, 9));
  assert.throws(() => assertOrdered([events[1]!, events[0]!], 5), /ascending sequence order: 3 follows 5/);
  assert.throws(() => assertOrdered([events[0]!, events[0]!], 3), /3 follows 3/);
  assert.throws(() => assertOrdered(events, 7), /ends at 7 but holds event 8/);
});

test("waiters settle true when the position reaches them, false on timeout or cancel", async () => {
  const waiters = new Waiters();
  assert.equal(await waiters.wait(5, 5, 10), true, "already reached");
  const ten = waiters.wait(10, 0, 5_000);
  const twenty = waiters.wait(20, 0, 5_000);
  const late = waiters.wait(30, 0, 20);
  waiters.advance(9);
  assert.equal(waiters.size, 3);
  waiters.advance(12);
  assert.equal(await ten, true);
  assert.equal(await late, false);
  assert.equal(waiters.size, 1);
  waiters.cancel();
  assert.equal(await twenty, false);
  assert.equal(waiters.size, 0);
});

test("the inbox hands out what it holds, up to a maximum, and ends once closed and empty", async () => {
  const inbox = new Inbox<number>();
  const first = inbox.take(2);
  inbox.push(1);
  assert.deepEqual(await first, [1]);
  for (const n of [2, 3, 4]) inbox.push(n);
  assert.deepEqual(await inbox.take(2), [2, 3]);
  inbox.close();
  assert.deepEqual(await inbox.take(2), [4]);
  assert.equal(await inbox.take(2), undefined);
});

test("schema names and database URLs are checked before any connection", () => {
  assert.equal(assertSchemaName("identity_v1"), "identity_v1");
  assert.throws(() => assertSchemaName("Identity"), /Schema name 'Identity' is invalid/);
  assert.throws(() => assertSchemaName("a;drop"), /is invalid/);
  assert.equal(describeUrl("postgres://pot:secret@db:5432/pot"), "postgres://pot:***@db:5432/pot");
  assert.throws(() => describeUrl("db:5432"), /not a postgres:\/\/ URL/);
  assert.throws(() => describeUrl("nonsense"), /Database URL is not a valid URL/);
});
