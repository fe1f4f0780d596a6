import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { deleteNamespace, ensureServers, uniqueNamespace, type Servers } from "@pot/devenv";
import { SponsorRegistered } from "@pot/contracts";
import { AlreadyExistsError, ConcurrencyError, IllegalStateError } from "@pot/mechanism";
import { AggregateRepository, type AggregateType } from "./aggregate-repository.js";
import { envelopeOf, EventStore } from "./event-store.js";
import { ensureEventStream } from "./streams.js";
import { streamNames } from "./naming.js";
import { BATCH_HEADER, REQUEST_DIGEST_HEADER } from "./request-digest.js";

let servers: Servers;
let nc: NatsConnection;
let store: EventStore;
const namespace = uniqueNamespace("es");

before(async () => {
  servers = await ensureServers();
  nc = await connect({ servers: servers.natsUrl });
  store = await EventStore.open(nc, streamNames(namespace, "identity"));
});

after(async () => {
  await nc?.close();
  await deleteNamespace(servers.natsUrl, namespace);
  await servers.stop();
});

function registration(subject: string, id: string, name: string) {
  return envelopeOf({
    event: {
      $case: "sponsorRegistered",
      value: SponsorRegistered.fromPartial({ memberId: name, publicKey: new Uint8Array(32) }),
    },
    subject,
    eventId: id,
    causationId: id,
    correlationId: id,
    occurredAt: new Date(0),
  });
}

/** A toy aggregate: the list of names registered on a subject. */
const names: AggregateType<string[], string> = {
  name: "names",
  initial: () => [],
  evolve: (state, event) => [...state, event],
  fromWire: (envelope) => (envelope.event?.$case === "sponsorRegistered" ? envelope.event.value.memberId : undefined),
  toWire: (event) => ({
    $case: "sponsorRegistered",
    value: SponsorRegistered.fromPartial({ memberId: event, publicKey: new Uint8Array(32) }),
  }),
};

describe("EventStore on JetStream", () => {
  test("an append with a stale expected subject sequence is a typed ConcurrencyError and stores nothing", async () => {
    const subject = store.subject("names", "conflict");
    const first = await store.append(subject, registration(subject, "c1", "ann"), {
      expectedLastSubjectSequence: 0,
      msgId: "c1",
    });
    await assert.rejects(
      store.append(subject, registration(subject, "c2", "bob"), { expectedLastSubjectSequence: 0, msgId: "c2" }),
      ConcurrencyError,
    );
    const stored = await store.read(subject);
    assert.deepEqual(
      stored.map((s) => s.seq),
      [first.seq],
    );
  });

  test("a duplicate publish (same Nats-Msg-Id) is stored once and reported as a duplicate", async () => {
    const subject = store.subject("names", "dup");
    const a = await store.append(subject, registration(subject, "d1", "ann"), {
      expectedLastSubjectSequence: 0,
      msgId: "d1",
    });
    const b = await store.append(subject, registration(subject, "d1", "ann"), {
      expectedLastSubjectSequence: 0,
      msgId: "d1",
    });
    assert.equal(b.duplicate, true);
    assert.equal(b.seq, a.seq);
    assert.equal((await store.read(subject)).length, 1);
  });

  test("the event type travels in the header and the envelope", async () => {
    const subject = store.subject("names", "typed");
    await store.append(subject, registration(subject, "t1", "ann"), { expectedLastSubjectSequence: 0, msgId: "t1" });
    const [stored] = await store.read(subject);
    assert.equal(stored?.headers?.get("Pot-Event-Type"), "pot.v1.SponsorRegistered");
    assert.equal(stored?.envelope.type, "pot.v1.SponsorRegistered");
    assert.equal(stored?.envelope.aggregateId, "typed");
  });

  test("two repositories racing on one aggregate: both commands land, in some order, none lost", async () => {
    const one = new AggregateRepository(store, names);
    const two = new AggregateRepository(store, names);
    await one.load("race");
    await two.load("race");
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? one : two).execute("race", { causationId: `r${i}`, now: new Date(0) }, () => [`n${i}`]),
      ),
    );
    assert.equal(results.filter((r) => !r.replayed).length, 10);
    const { state } = await one.load("race");
    assert.deepEqual([...state].sort(), Array.from({ length: 10 }, (_, i) => `n${i}`).sort());
  });

  test("catch-up refuses one garbage message and one it cannot apply, never the whole aggregate", async () => {
    const writer = new AggregateRepository(store, names);
    await writer.execute("poisoned", { causationId: "p1", now: new Date(0) }, () => ["before"]);
    const subject = `${store.names.prefix}.names.poisoned`;
    // Garbage bytes on the aggregate's subject (someone with publish rights, a bug, a bit flip).
    const garbage = await store.js.publish(subject, new Uint8Array([0xff, 0x00, 0xfe]), {
      expect: { lastSubjectSequence: await store.lastSequence(subject) },
    });
    // A valid envelope whose event the aggregate's codec refuses.
    const refusing: AggregateType<string[], string> = {
      ...names,
      fromWire: (envelope) => {
        const name = names.fromWire(envelope);
        if (name === "invalid") throw Object.assign(new Error("member id is malformed"), { name: "ValidationError" });
        return name;
      },
    };
    await writer.execute("poisoned", { causationId: "p2", now: new Date(0) }, () => ["invalid"]);
    const logged: string[] = [];
    const logger = {
      debug() {},
      info() {},
      warn() {},
      error: (fields: object, message: string) => logged.push(`${message} ${JSON.stringify(fields)}`),
    };
    const fresh = new AggregateRepository(store, refusing, { logger });
    const result = await fresh.execute("poisoned", { causationId: "p3", now: new Date(0) }, (state) => {
      assert.deepEqual(state, ["before"], "decided on the state without the refused messages");
      return ["after"];
    });
    assert.equal(result.replayed, false);
    assert.ok(result.seq > garbage.seq, "the append expected the last sequence, refused messages included");
    assert.deepEqual((await fresh.load("poisoned")).state, ["before", "after"]);
    assert.equal(logged.length, 2, logged.join("\n"));
    assert.match(logged[0]!, new RegExp(`undecodable message.*"seq":${garbage.seq}`));
    assert.match(logged[1]!, /cannot apply.*ValidationError: member id is malformed/);
    const log = await store.readLog(subject);
    assert.deepEqual(
      log.refused.map((refused) => refused.seq),
      [garbage.seq],
    );
    assert.equal(log.through, result.seq);
  });

  test("a retried command (same causation id) appends nothing twice", async () => {
    const repo = new AggregateRepository(store, names);
    const first = await repo.execute("retry", { causationId: "req-1", now: new Date(0) }, () => ["x"]);
    const fresh = new AggregateRepository(store, names);
    const again = await fresh.execute("retry", { causationId: "req-1", now: new Date(0) }, () => ["x"]);
    assert.equal(again.replayed, true);
    assert.equal(again.seq, first.seq);
    assert.deepEqual((await fresh.load("retry")).state, ["x"]);
  });

  test("an aggregate this process has not seen is taken for new only as far as the broker confirms it", async () => {
    const writer = new AggregateRepository(store, names);
    await writer.execute("seen-elsewhere", { causationId: "w1", now: new Date(0) }, () => ["first"]);
    let conflicts = 0;
    const onConflict = () => conflicts++;
    // An append decided on the assumed-empty state is refused by the broker, then decided on the log.
    const appender = new AggregateRepository(store, names, { onConflict });
    const appended = await appender.execute("seen-elsewhere", { causationId: "a1", now: new Date(0) }, (state) => [
      `after ${state.length}`,
    ]);
    assert.deepEqual(appended.state, ["first", "after 1"]);
    // A no-op decided on the assumed-empty state is not trusted either.
    const idle = new AggregateRepository(store, names, { onConflict });
    const decided = await idle.execute("seen-elsewhere", { causationId: "i1", now: new Date(0) }, (state) =>
      state.length === 0 ? [] : [`after ${state.length}`],
    );
    assert.deepEqual(decided.state, ["first", "after 1", "after 2"]);
    // And a refusal is decided again on the log.
    const refuser = new AggregateRepository(store, names, { onConflict });
    const retried = await refuser.execute("seen-elsewhere", { causationId: "r1", now: new Date(0) }, (state) => {
      if (state.length === 0) throw new IllegalStateError("no such aggregate");
      return [`after ${state.length}`];
    });
    assert.equal(retried.state.length, 4);
    assert.equal(conflicts, 0, "a wrong guess about a new aggregate is not a concurrency conflict");
    // A new aggregate's first command needs no read at all, and is still conditional.
    const fresh = new AggregateRepository(store, names);
    const created = await fresh.execute("brand-new", { causationId: "n1", now: new Date(0) }, () => ["one"]);
    assert.deepEqual(
      (await store.read(store.subject("names", "brand-new"))).map((e) => e.seq),
      [created.seq],
    );
  });

  test("ensureEventStream is idempotent and verifies the applied settings", async () => {
    const info = await ensureEventStream(store.jsm, { name: store.names.stream, subjects: [store.names.all] });
    assert.equal(info.config.duplicate_window, 120_000 * 1_000_000);
    assert.equal(info.config.deny_delete, true);
    assert.equal(info.config.deny_purge, true);
    await assert.rejects(store.jsm.streams.purge(store.names.stream), /purge not permitted/);
  });

  test("a stream made before deny_purge existed is updated to deny purge and message deletion; deleting it whole still works", async () => {
    const old = streamNames(namespace, "matchmaker");
    await store.jsm.streams.add({
      name: old.stream,
      subjects: [old.all],
      deny_purge: false,
      deny_delete: false,
      allow_direct: true,
    });
    const info = await ensureEventStream(store.jsm, { name: old.stream, subjects: [old.all] });
    assert.equal(info.config.deny_purge, true);
    assert.equal(info.config.deny_delete, true);
    await assert.rejects(store.jsm.streams.purge(old.stream), /purge not permitted/);
    // Tests' cleanup (deleteNamespace) deletes whole streams: that is not message deletion.
    assert.equal(await store.jsm.streams.delete(old.stream), true);
  });
});

/**
 * A toy aggregate alone on its stream, whose events carry the position they were decided at:
 * folding refuses an event decided on any other state than the one it follows, so a broken
 * pipeline chain (an event stored after a predecessor that was not) shows up as a wrong position.
 */
const positions: AggregateType<string[], string> = {
  ...names,
  name: "ledger",
  evolve: (state, event) => {
    const [, at] = event.split("@");
    if (Number(at) !== state.length) throw new Error(`event ${event} decided at ${at} lands at ${state.length}`);
    return [...state, event];
  },
};

describe("a pipelined repository (appends chained with Nats-Expected-Last-Msg-Id)", () => {
  let alone: EventStore;
  before(async () => {
    alone = await EventStore.open(nc, streamNames(namespace, "matchmaker"));
  });

  const command = (name: string) => (state: string[]) => [`${name}@${state.length}`];

  test("many commands at once all land, each decided on the state of the ones before it", async () => {
    const repo = new AggregateRepository(alone, positions, { pipeline: 32 });
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        repo.execute("ledger", { causationId: `p${i}`, now: new Date(0) }, command(`p${i}`)),
      ),
    );
    assert.equal(results.filter((r) => !r.replayed && r.events.length === 1).length, 200);
    const seqs = results.map((r) => r.seq);
    assert.equal(new Set(seqs).size, 200, "every command has its own sequence");
    const fresh = new AggregateRepository(alone, positions);
    const { state, seq } = await fresh.load("ledger");
    assert.equal(state.length, 200);
    assert.equal(seq, Math.max(...seqs));
    // A restarted replica (nothing cached) takes the ledger for new, is refused, reads it and goes on.
    const restarted = new AggregateRepository(alone, positions, { pipeline: 32 });
    const later = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        restarted.execute("ledger", { causationId: `q${i}`, now: new Date(0) }, command(`q${i}`)),
      ),
    );
    assert.equal(later.filter((r) => r.events.length === 1).length, 50);
    assert.equal((await new AggregateRepository(alone, positions).load("ledger")).state.length, 250);
  });

  test("two pipelined replicas racing: every command that succeeds is stored once, in a consistent order", async () => {
    let conflicts = 0;
    const options = { pipeline: 16, maxAttempts: 50, onConflict: () => conflicts++ };
    const one = new AggregateRepository(alone, positions, options);
    const two = new AggregateRepository(alone, positions, options);
    const before = (await one.load("ledger")).state.length;
    await two.load("ledger");
    const outcomes = await Promise.allSettled(
      Array.from({ length: 120 }, (_, i) =>
        (i % 2 ? one : two).execute("ledger", { causationId: `race${i}`, now: new Date(0) }, command(`race${i}`)),
      ),
    );
    const succeeded = outcomes.filter((o) => o.status === "fulfilled").length;
    const refused = outcomes.filter((o) => o.status === "rejected");
    for (const outcome of refused) assert.ok(outcome.reason instanceof ConcurrencyError, String(outcome.reason));
    assert.ok(succeeded >= 60, `only ${succeeded} of 120 succeeded`);
    assert.ok(conflicts > 0, "the replicas never conflicted: the race was not exercised");
    // Folding the log checks every position: an event stored out of its chain would throw here.
    const { state } = await new AggregateRepository(alone, positions).load("ledger");
    const stored = state.slice(before).map((event) => event.split("@")[0]);
    assert.equal(new Set(stored).size, stored.length, "nothing stored twice");
    assert.equal(stored.length, succeeded);
  });

  test("a refusal or a repeated causation is answered from acknowledged state, not from appends in flight", async () => {
    const repo = new AggregateRepository(alone, positions, { pipeline: 8 });
    await repo.load("ledger");
    const once = (state: string[]) => (state.some((e) => e.startsWith("once@")) ? [] : [`once@${state.length}`]);
    const refuse = (state: string[]) => {
      if (state.some((e) => e.startsWith("once@"))) throw new IllegalStateError("already there");
      return [`never@${state.length}`];
    };
    const [first, second, third, refused] = await Promise.allSettled([
      repo.execute("ledger", { causationId: "once-1", now: new Date(0) }, once),
      repo.execute("ledger", { causationId: "once-1", now: new Date(0) }, once),
      repo.execute("ledger", { causationId: "once-2", now: new Date(0) }, once),
      repo.execute("ledger", { causationId: "refuse", now: new Date(0) }, refuse),
    ]);
    assert.equal(first.status === "fulfilled" && first.value.events.length, 1);
    assert.equal(second.status === "fulfilled" && second.value.replayed, true);
    assert.equal(third.status === "fulfilled" && third.value.events.length, 0);
    assert.equal(refused.status, "rejected");
    const { state } = await new AggregateRepository(alone, positions).load("ledger");
    assert.equal(state.filter((e) => e.startsWith("once@")).length, 1);
    assert.equal(state.filter((e) => e.startsWith("never@")).length, 0);
  });
});

describe("replicas: a decision that appends nothing is made on the log's state, not a cache", () => {
  for (const pipeline of [1, 8]) {
    test(`a no-op a stale cache would decide is decided again on the caught-up state (pipeline ${pipeline})`, async () => {
      const id = `stale-noop-${pipeline}`;
      // Two replicas of one aggregate, each with its own cache; `settler` read the aggregate first.
      const opener = new AggregateRepository(store, names, { pipeline });
      const settler = new AggregateRepository(store, names, { pipeline });
      await settler.execute(id, { causationId: "start", now: new Date(0) }, () => ["started"]);
      await opener.execute(id, { causationId: "open", now: new Date(0) }, () => ["opened"]);
      // Settling is a no-op when the cache has no "opened": the settler's cache does not.
      const settle = (state: string[]) => (state.includes("opened") && !state.includes("settled") ? ["settled"] : []);
      const settled = await settler.execute(id, { causationId: "resolved", now: new Date(0) }, settle);
      assert.deepEqual(settled.events, ["settled"]);
      assert.deepEqual((await opener.load(id)).state, ["started", "opened", "settled"]);
      // A no-op on the caught-up state is still a no-op, and appends nothing.
      const again = await opener.execute(id, { causationId: "resolved-again", now: new Date(0) }, settle);
      assert.deepEqual(again.events, []);
      assert.equal((await store.read(store.subject("names", id))).length, 3);
    });
  }
});

describe("exact idempotency: a repeated request gets its first answer, from the log", () => {
  const request = (digest: string) => ({ digest, describe: "request_id r" });

  for (const pipeline of [1, 8]) {
    test(`same id and content: the first answer; other content: refused (pipeline ${pipeline})`, async () => {
      const id = `idem${pipeline}`;
      const repo = new AggregateRepository(store, names, { pipeline });
      const first = await repo.execute(id, { causationId: "r", now: new Date(0), request: request("d1") }, () => ["x"]);
      await repo.execute(id, { causationId: "s", now: new Date(0) }, () => ["y"]);
      const again = await repo.execute(id, { causationId: "r", now: new Date(0), request: request("d1") }, () => ["x"]);
      assert.equal(again.replayed, true);
      assert.equal(again.seq, first.seq, "the first answer's sequence, not the aggregate's current one");
      assert.deepEqual(again.caused?.events, ["x"]);
      assert.deepEqual(again.caused?.seqs, [first.seq]);
      // Another process (a restart) reads the same answer from the log.
      const restarted = new AggregateRepository(store, names, { pipeline });
      const fromLog = await restarted.execute(
        id,
        { causationId: "r", now: new Date(0), request: request("d1") },
        () => ["x"],
      );
      assert.equal(fromLog.seq, first.seq);
      assert.deepEqual(fromLog.caused?.events, ["x"]);
      // Other content: the decider's own refusal when it has one, else ALREADY_EXISTS.
      await assert.rejects(
        restarted.execute(id, { causationId: "r", now: new Date(0), request: request("d2") }, () => ["z"]),
        (error: Error) => error instanceof AlreadyExistsError && /request_id r was already used/.test(error.message),
      );
      await assert.rejects(
        restarted.execute(id, { causationId: "r", now: new Date(0), request: request("d2") }, () => {
          throw new IllegalStateError("already committed something else");
        }),
        IllegalStateError,
      );
      assert.deepEqual((await restarted.load(id)).state, ["x", "y"]);
    });
  }

  test("a command whose append stopped part-way is finished by its retry, the event ids going on from those stored", async () => {
    const id = "interrupted";
    const subject = store.subject("names", id);
    // The first attempt stored the first of its two events, then the broker went away.
    const envelope = envelopeOf({
      event: names.toWire("a"),
      subject,
      eventId: `names.${id}/r/0`,
      causationId: "r",
      correlationId: "r",
      occurredAt: new Date(0),
    });
    await store.append(subject, envelope, {
      expectedLastSubjectSequence: 0,
      msgId: envelope.eventId,
      headers: { [REQUEST_DIGEST_HEADER]: "d1", [BATCH_HEADER]: "1/2" },
    });
    const repo = new AggregateRepository(store, names);
    const decide = (state: string[]) => (state.includes("a") ? ["b"] : ["a", "b"]);
    const retried = await repo.execute(id, { causationId: "r", now: new Date(0), request: request("d1") }, decide);
    assert.deepEqual(retried.state, ["a", "b"]);
    assert.deepEqual(retried.caused?.events, ["a", "b"]);
    const stored = await store.read(subject);
    assert.deepEqual(
      stored.map((s) => s.envelope.eventId),
      [`names.${id}/r/0`, `names.${id}/r/1`],
    );
    assert.equal(stored[1]?.headers?.get(BATCH_HEADER), "2/2");
    // Complete now: every later retry is answered from the log without deciding.
    const again = await new AggregateRepository(store, names).execute(
      id,
      { causationId: "r", now: new Date(0), request: request("d1") },
      () => assert.fail("decided again"),
    );
    assert.equal(again.seq, stored[1]?.seq);
  });
});
