import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { deleteNamespace, ensureServers, uniqueNamespace, type Servers } from "@pot/devenv";
import { ConcurrencyError } from "@pot/mechanism";
import { AggregateRepository, type AggregateType } from "./aggregate-repository.js";
import { envelopeOf, EventStore } from "./event-store.js";
import { ensureEventStream } from "./streams.js";
import { streamNames } from "./naming.js";

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
    event: { $case: "sponsorRegistered", value: { memberId: name, publicKey: new Uint8Array(32) } },
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
  toWire: (event) => ({ $case: "sponsorRegistered", value: { memberId: event, publicKey: new Uint8Array(32) } }),
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

  test("a retried command (same causation id) appends nothing twice", async () => {
    const repo = new AggregateRepository(store, names);
    const first = await repo.execute("retry", { causationId: "req-1", now: new Date(0) }, () => ["x"]);
    const fresh = new AggregateRepository(store, names);
    const again = await fresh.execute("retry", { causationId: "req-1", now: new Date(0) }, () => ["x"]);
    assert.equal(again.replayed, true);
    assert.equal(again.seq, first.seq);
    assert.deepEqual((await fresh.load("retry")).state, ["x"]);
  });

  test("ensureEventStream is idempotent and verifies the applied settings", async () => {
    const info = await ensureEventStream(store.jsm, { name: store.names.stream, subjects: [store.names.all] });
    assert.equal(info.config.duplicate_window, 120_000 * 1_000_000);
    assert.equal(info.config.deny_delete, true);
  });
});
