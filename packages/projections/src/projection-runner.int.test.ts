import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Envelope, MemberExcluded } from "@pot/contracts";
import { envelopeOf, readDeadLetters } from "@pot/event-store";
import { applyBatch, type Projection } from "./apply-batch.js";
import { readCheckpoint } from "./checkpoint.table.js";
import { openDatabase, type Database } from "./database.js";
import {
  startProjection,
  type BatchInfo,
  type ProjectionRunner,
  type StartProjectionOptions,
} from "./projection-runner.js";
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

/** A scenario of its own: an aggregate type (subject token), a durable and a projection name. */
function scenario() {
  const type = `k${randomHex()}`;
  const batches: BatchInfo[] = [];
  const delivered = () => batches.reduce((sum, info) => sum + info.size, 0);
  const start = (projection: Projection<CounterDB>, extra: Partial<StartProjectionOptions<CounterDB>> = {}) =>
    startProjection({
      db: pot.db,
      store: stream.store,
      deadLetters: stream.deadLetters,
      sourceStream: stream.store.names.stream,
      durable: `d_${type}`,
      filterSubject: `${stream.store.names.prefix}.${type}.*`,
      projection,
      onBatch: (info) => batches.push(info),
      ...extra,
    }).then((runner) => {
      runners.push(runner);
      return runner;
    });
  const ids = (n: number, aggregates: number) => Array.from({ length: n }, (_, i) => `${type}a${i % aggregates}`);
  return { type, name: `p_${type}`, batches, delivered, start, ids };
}

test("published events are projected and the checkpoint is the last sequence", { skip }, async () => {
  const s = scenario();
  const early = s.ids(10, 5);
  await publish(stream.store, s.type, early);
  const runner = await s.start(counterProjection(s.name));
  const late = s.ids(10, 5);
  const published = await publish(stream.store, s.type, late);
  const last = published.at(-1)!.seq;

  assert.equal(await runner.waitFor(last, 10_000), true);
  assert.equal(runner.position(), last);
  assert.equal(await readCheckpoint(pot.db, s.name), last);
  assert.deepEqual(await counts(pot.db, s.name), tally([...early, ...late]));
  assert.equal(s.delivered(), 20);
  assert.equal(s.batches.at(-1)?.lagEvents, 0);
  await eventually(async () => {
    const info = await stream.store.jsm.consumers.info(stream.store.names.stream, `d_${s.type}`);
    assert.equal(info.num_ack_pending, 0, "every message acknowledged after its commit");
    assert.equal(info.ack_floor.stream_seq, last);
  });
});

test("redelivery after a commit whose ack never happened applies nothing twice", { skip }, async () => {
  const s = scenario();
  const ids = s.ids(12, 3);
  const events = await publish(stream.store, s.type, ids);
  const last = events.at(-1)!.seq;
  // The first 8 were committed by a runner that died before acking: the consumer has acked nothing.
  assert.equal(await applyBatch(pot.db, counterProjection(s.name), events.slice(0, 8)), events[7]!.seq);

  const runner = await s.start(counterProjection(s.name));
  assert.equal(await runner.waitFor(last, 10_000), true);
  await eventually(async () => assert.equal(s.delivered(), 12, "all 12 delivered, the 8 committed ones included"));
  assert.deepEqual(await counts(pot.db, s.name), tally(ids));
  assert.equal(await readCheckpoint(pot.db, s.name), last);
  await runner.stop();

  // Everything redelivered once more: a consumer that lost its state replays the whole stream.
  await stream.store.jsm.consumers.delete(stream.store.names.stream, `d_${s.type}`);
  const again = await s.start(counterProjection(s.name));
  await eventually(async () => assert.equal(s.delivered(), 24));
  assert.equal(again.position(), last);
  assert.deepEqual(await counts(pot.db, s.name), tally(ids));
  assert.equal(await readCheckpoint(pot.db, s.name), last);
  await again.stop();
});

test("a runner stopped with messages delivered but not committed loses none of them", { skip }, async () => {
  const s = scenario();
  const counter = counterProjection(s.name);
  const slow: Projection<CounterDB> = {
    name: s.name,
    async apply(trx, events) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await counter.apply(trx, events);
    },
  };
  const ids = s.ids(30, 4);
  const last = (await publish(stream.store, s.type, ids)).at(-1)!.seq;
  let firstBatch!: () => void;
  const committed = new Promise<void>((resolve) => (firstBatch = resolve));
  const runner = await s.start(slow, { batch: 2, onBatch: () => firstBatch() });
  await committed;
  await runner.stop();
  const stoppedAt = runner.position();
  assert.ok(stoppedAt < last, `stopped at ${stoppedAt}, before ${last}`);
  const info = await stream.store.jsm.consumers.info(stream.store.names.stream, `d_${s.type}`);
  assert.ok(info.delivered.stream_seq > stoppedAt, "the consumer delivered past the checkpoint");

  // Unacked messages would only come back after the ack wait (30 s), behind newer ones; the new
  // runner restarts the consumer from the checkpoint instead.
  const next = await s.start(counterProjection(s.name));
  assert.equal(await next.waitFor(last, 5_000), true);
  assert.deepEqual(await counts(pot.db, s.name), tally(ids));
  assert.equal(await readCheckpoint(pot.db, s.name), last);
});

test("a failed batch is retried from the checkpoint and applied once", { skip }, async () => {
  const s = scenario();
  const counter = counterProjection(s.name);
  let failures = 0;
  const flaky: Projection<CounterDB> = {
    name: s.name,
    async apply(trx, events) {
      await counter.apply(trx, events);
      if (failures < 2) {
        failures++;
        throw new Error("connection reset (simulated)");
      }
    },
  };
  const ids = s.ids(15, 3);
  const last = (await publish(stream.store, s.type, ids)).at(-1)!.seq;
  const runner = await s.start(flaky, { batch: 4 });
  assert.equal(await runner.waitFor(last, 10_000), true);
  assert.equal(failures, 2);
  assert.deepEqual(await counts(pot.db, s.name), tally(ids));
  assert.equal(await readCheckpoint(pot.db, s.name), last);
});

test("waitFor resolves once the position reaches a sequence and false on timeout", { skip }, async () => {
  const s = scenario();
  const runner = await s.start(counterProjection(s.name));
  const before = Date.now();
  assert.equal(await runner.waitFor(runner.position() + 1, 200), false);
  assert.ok(Date.now() - before >= 190, "waited for the timeout");

  const [first] = await publish(stream.store, s.type, s.ids(1, 1));
  const waiting = runner.waitFor(first!.seq + 1, 10_000);
  const [second] = await publish(stream.store, s.type, [`${s.type}b`]);
  assert.equal(second!.seq, first!.seq + 1, "nothing else published to the stream in between");
  assert.equal(await waiting, true);
  assert.ok(runner.position() >= second!.seq);
  assert.equal(await runner.waitFor(first!.seq, 0), true, "a reached sequence resolves at once");

  const never = runner.waitFor(second!.seq + 1_000, 60_000);
  await runner.stop();
  assert.equal(await never, false, "stop settles pending waits");
});

test("an undecodable message is dead-lettered and the checkpoint still moves past it", { skip }, async () => {
  const s = scenario();
  const [good] = await publish(stream.store, s.type, [`${s.type}x`]);
  const garbage = await stream.store.js.publish(
    stream.store.subject(s.type, "junk"),
    new Uint8Array([0xff, 0xff, 0xff]),
  );
  const [good2] = await publish(stream.store, s.type, [`${s.type}x`]);
  const noBody = await stream.store.js.publish(
    stream.store.subject(s.type, "empty"),
    Envelope.encode({
      eventId: "e",
      type: "t",
      aggregateId: "empty",
      causationId: "c",
      correlationId: "c",
      occurredAt: undefined,
      event: undefined,
    }).finish(),
  );
  assert.ok(good!.seq < garbage.seq && garbage.seq < good2!.seq && good2!.seq < noBody.seq);

  const runner = await s.start(counterProjection(s.name));
  assert.equal(await runner.waitFor(noBody.seq, 10_000), true);
  assert.equal(await readCheckpoint(pot.db, s.name), noBody.seq);
  assert.deepEqual(await counts(pot.db, s.name), { [`${s.type}x`]: 2 });
  await eventually(async () => {
    const info = await stream.store.jsm.consumers.info(stream.store.names.stream, `d_${s.type}`);
    assert.equal(info.num_ack_pending, 0);
    assert.equal(info.num_redelivered, 0);
  });
  const letters = await lettersOf(`d_${s.type}`);
  assert.deepEqual(
    letters.map((letter) => [letter.originalSeq, letter.kind, letter.stream, letter.originalSubject]),
    [
      [garbage.seq, "undecodable", stream.store.names.stream, stream.store.subject(s.type, "junk")],
      [noBody.seq, "undecodable", stream.store.names.stream, stream.store.subject(s.type, "empty")],
    ],
  );
  assert.deepEqual([...letters[0]!.data], [0xff, 0xff, 0xff], "the original bytes are kept");
  assert.match(letters[1]!.reason, /carries no event body/);
  assert.equal(letters[0]!.attempts, 1);
  assert.equal(letters[0]!.service, "identity");
  assert.ok(!Number.isNaN(Date.parse(letters[0]!.time)));
});

/** The dead letters that durable `consumer` wrote in the test stream's dead-letter stream. */
async function lettersOf(consumer: string) {
  return (await readDeadLetters(stream.nc, stream.deadLetters.names)).filter((letter) => letter.consumer === consumer);
}

test("an event its prepare refuses is dead-lettered at once; the rest of the batch is applied", { skip }, async () => {
  const s = scenario();
  const counter = counterProjection(s.name);
  const refusing: Projection<CounterDB> = {
    ...counter,
    prepare(events) {
      for (const event of events) {
        if (event.envelope.aggregateId.endsWith("bad")) {
          throw Object.assign(new Error(`member ${event.envelope.aggregateId} is malformed`), {
            name: "ValidationError",
          });
        }
      }
      return events.length;
    },
  };
  const published = await publish(stream.store, s.type, [`${s.type}a`, `${s.type}bad`, `${s.type}a`]);
  const runner = await s.start(refusing);
  assert.equal(await runner.waitFor(published.at(-1)!.seq, 10_000), true);
  assert.deepEqual(await counts(pot.db, s.name), { [`${s.type}a`]: 2 });
  const letters = await lettersOf(`d_${s.type}`);
  assert.deepEqual(
    letters.map((letter) => [letter.originalSeq, letter.kind]),
    [[published[1]!.seq, "invalid"]],
  );
  assert.match(letters[0]!.reason, /ValidationError: member .*bad is malformed/);
});

test(
  "an event whose apply keeps throwing is retried up to the bound, then dead-lettered and skipped",
  { skip },
  async () => {
    const s = scenario();
    const counter = counterProjection(s.name);
    let attempts = 0;
    const throwing: Projection<CounterDB> = {
      ...counter,
      async apply(trx, events, prepared) {
        if (events.some((event) => event.envelope.aggregateId.endsWith("boom"))) {
          attempts++;
          throw new Error("the projection cannot apply boom");
        }
        await counter.apply(trx, events, prepared);
      },
    };
    const published = await publish(stream.store, s.type, [`${s.type}a`, `${s.type}boom`, `${s.type}a`]);
    const runner = await s.start(throwing, { deadLetterAfter: 3 });
    assert.equal(await runner.waitFor(published.at(-1)!.seq, 15_000), true);
    assert.deepEqual(await counts(pot.db, s.name), { [`${s.type}a`]: 2 }, "the events around the poison are applied");
    assert.equal(attempts, 1 + 3, "once in the batch, then three times alone");
    const letters = await lettersOf(`d_${s.type}`);
    assert.deepEqual(
      letters.map((letter) => [letter.originalSeq, letter.kind, letter.attempts]),
      [[published[1]!.seq, "failed", 3]],
    );
    assert.match(letters[0]!.reason, /cannot apply boom/);

    // The runner goes on: later events are applied.
    const [later] = await publish(stream.store, s.type, [`${s.type}c`]);
    assert.equal(await runner.waitFor(later!.seq, 10_000), true);
    assert.equal((await counts(pot.db, s.name))[`${s.type}c`], 1);
  },
);

test("an event Postgres refuses (a NUL in text) is dead-lettered; the projection continues", { skip }, async () => {
  const s = scenario();
  const subject = stream.store.subject(s.type, "nul");
  const poisoned = envelopeOf({
    event: {
      $case: "memberExcluded",
      value: MemberExcluded.fromPartial({ memberId: "nul", reason: "x", excludedAtMs: 0n }),
    },
    subject,
    eventId: `nul-${s.type}`,
    causationId: "c",
    correlationId: "c",
    occurredAt: new Date(0),
  });
  const [before] = await publish(stream.store, s.type, [`${s.type}a`]);
  const nul = await stream.store.append(
    subject,
    { ...poisoned, aggregateId: `${s.type}\u0000nul` },
    { expectedLastSubjectSequence: 0, msgId: poisoned.eventId },
  );
  const [afterwards] = await publish(stream.store, s.type, [`${s.type}a`]);
  assert.ok(before!.seq < nul.seq && nul.seq < afterwards!.seq);
  const runner = await s.start(counterProjection(s.name), { deadLetterAfter: 2 });
  assert.equal(await runner.waitFor(afterwards!.seq, 15_000), true);
  assert.deepEqual(await counts(pot.db, s.name), { [`${s.type}a`]: 2 });
  const letters = await lettersOf(`d_${s.type}`);
  assert.deepEqual(
    letters.map((letter) => [letter.originalSeq, letter.kind, letter.attempts]),
    [[nul.seq, "failed", 2]],
  );
  assert.match(letters[0]!.reason, /0x00|null/i);
});

test("a projection dropped for a rebuild is replayed by the same durable to the same state", { skip }, async () => {
  const s = scenario();
  const ids = s.ids(20, 4);
  const last = (await publish(stream.store, s.type, ids)).at(-1)!.seq;
  const runner = await s.start(counterProjection(s.name));
  assert.equal(await runner.waitFor(last, 10_000), true);
  await runner.stop();
  const live = await counts(pot.db, s.name);

  await pot.db.deleteFrom("event_counts").where("projection", "=", s.name).execute();
  await pot.db
    .withTables<import("./checkpoint.table.js").CheckpointTables>()
    .deleteFrom("projection_checkpoints")
    .where("name", "=", s.name)
    .execute();
  const rebuilt = await s.start(counterProjection(s.name));
  assert.equal(rebuilt.position(), 0);
  assert.equal(await rebuilt.waitFor(last, 10_000), true);
  assert.deepEqual(await counts(pot.db, s.name), live);
  assert.deepEqual(live, tally(ids));
});

test("the next batch is prepared while one is written, one transaction at a time, in order", { skip }, async () => {
  const s = scenario();
  const counter = counterProjection(s.name);
  let writing = 0;
  let mostWriting = 0;
  let prepares = 0;
  let written = 0;
  let preparedAhead = 0;
  let unprepared = 0;
  const applied: number[] = [];
  const pipelined: Projection<CounterDB, readonly number[]> = {
    name: s.name,
    prepare(events) {
      // This batch and the one before it prepared, the one before not written yet: they overlap.
      prepares++;
      if (prepares - written >= 2) preparedAhead++;
      return events.map((event) => event.seq);
    },
    async apply(trx, events, prepared) {
      writing++;
      mostWriting = Math.max(mostWriting, writing);
      try {
        if (prepared === undefined) unprepared++;
        else
          assert.deepEqual(
            prepared,
            events.map((event) => event.seq),
            "prepare saw exactly these events",
          );
        applied.push(...events.map((event) => event.seq));
        await new Promise((resolve) => setTimeout(resolve, 20));
        await counter.apply(trx, events);
      } finally {
        writing--;
        written++;
      }
    },
  };
  const ids = s.ids(60, 7);
  const published = await publish(stream.store, s.type, ids);
  const last = published.at(-1)!.seq;
  const runner = await s.start(pipelined, { batch: 5 });
  assert.equal(await runner.waitFor(last, 10_000), true);
  assert.equal(mostWriting, 1, "never two transactions at once");
  assert.ok(preparedAhead > 0, "some batch was prepared while the one before it was being written");
  assert.equal(unprepared, 0);
  assert.deepEqual(
    applied,
    published.map((event) => event.seq),
    "every event applied once, in stream order",
  );
  assert.deepEqual(await counts(pot.db, s.name), tally(ids));
  assert.equal(await readCheckpoint(pot.db, s.name), last);
  await eventually(async () => {
    const info = await stream.store.jsm.consumers.info(stream.store.names.stream, `d_${s.type}`);
    assert.equal(info.num_ack_pending, 0, "every message acknowledged after its commit");
  });
});
