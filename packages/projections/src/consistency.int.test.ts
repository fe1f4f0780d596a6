import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { JsMsg } from "@nats-io/jetstream";
import { decodeEnvelope, durableName, ensureDurableConsumer, EventStore, streamNames } from "@pot/event-store";
import type { StoredEvent } from "@pot/event-store";
import { ConsistencyGate } from "./consistency.js";
import { createTestStream, publish, type TestStream } from "./test-support.js";

let source: TestStream;
let own: EventStore;

before(async () => {
  source = await createTestStream();
  own = await EventStore.open(source.nc, streamNames(source.namespace, "matchmaker"), { storage: "memory" });
});

after(async () => {
  await own?.jsm.streams.delete(own.names.stream).catch(() => undefined);
  await source?.drop();
});

test("two replicas sharing a reaction's consumer: one does not vouch for an event the other is still handling", async () => {
  const durable = durableName(source.namespace, "matchmaker", "react", "identity");
  await ensureDurableConsumer(source.store.jsm, { stream: source.store.names.stream, durable });
  await publish(source.store, "member", ["m1", "m2", "m3"]);
  const gate = () =>
    new ConsistencyGate({
      jsm: source.store.jsm,
      namespace: source.namespace,
      service: "matchmaker",
      projections: [],
      reactions: [{ source: "identity", durable }],
    });
  const [one, two] = [gate(), gate()];
  const consumer = await source.store.js.consumers.get(source.store.names.stream, durable);
  const next = async (): Promise<JsMsg> => {
    const message = await consumer.next({ expires: 2_000 });
    assert.ok(message, "a delivery");
    return message;
  };
  const stored = (message: JsMsg): StoredEvent => ({
    seq: message.seq,
    subject: message.subject,
    envelope: decodeEnvelope(message.data),
    headers: message.headers,
    deliverySeq: message.info.deliverySequence,
  });
  const identity = { stream: "identity" };
  const done = async () => undefined;

  // Replica one handles the first event; replica two takes the second and is still at it when one
  // handles the third.
  const first = await next();
  await one.track("identity", done)(stored(first));
  first.ack();
  const second = await next();
  let finish!: () => void;
  const handling = two.track("identity", () => new Promise<void>((resolve) => (finish = resolve)))(stored(second));
  const third = await next();
  await one.track("identity", done)(stored(third));
  third.ack();

  const waiting = await one.waitFor({ ...identity, seq: third.seq }, 700);
  assert.match(waiting ?? "", /has not yet handled identity event 3/, "one vouched for the event two is handling");
  assert.match((await two.waitFor({ ...identity, seq: second.seq }, 300)) ?? "", /has not yet handled/);
  // Once two is done and has acknowledged, both answer.
  finish();
  await handling;
  second.ack();
  assert.equal(await one.waitFor({ ...identity, seq: third.seq }, 5_000), undefined);
  assert.equal(await two.waitFor({ ...identity, seq: third.seq }, 5_000), undefined);
  // One's own later deliveries, without a gap, answer without asking JetStream again.
  await publish(source.store, "member", ["m4"]);
  const fourth = await next();
  await one.track("identity", done)(stored(fourth));
  assert.equal(await one.waitFor({ ...identity, seq: fourth.seq }, 50), undefined);
  fourth.ack();
});
