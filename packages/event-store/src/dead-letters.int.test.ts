import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { headers as natsHeaders, connect, type NatsConnection } from "@nats-io/transport-node";
import { deleteNamespace, ensureServers, uniqueNamespace, type Servers } from "@pot/devenv";
import { SponsorRegistered } from "@pot/contracts";
import { ValidationError } from "@pot/mechanism";
import {
  DEAD_LETTER_HEADERS,
  DeadLetterError,
  DeadLetterRetryError,
  DeadLetters,
  readDeadLetter,
  readDeadLetters,
  retryDeadLetter,
  type DeadLetter,
} from "./dead-letters.js";
import { envelopeOf, EventStore, type StoredEvent } from "./event-store.js";
import { encodeEnvelope } from "./codec.js";
import { streamNames } from "./naming.js";
import { startReactor, type Reactor } from "./reactor.js";

let servers: Servers;
let nc: NatsConnection;
let store: EventStore;
let deadLetters: DeadLetters;
const namespace = uniqueNamespace("dl");
const reactors: Reactor[] = [];

before(async () => {
  servers = await ensureServers();
  nc = await connect({ servers: servers.natsUrl });
  store = await EventStore.open(nc, streamNames(namespace, "adjudicator"), { storage: "memory" });
  deadLetters = await DeadLetters.open(nc, namespace, "identity", { storage: "memory" });
});

after(async () => {
  await Promise.allSettled(reactors.map((reactor) => reactor.stop()));
  await nc?.close();
  await deleteNamespace(servers.natsUrl, namespace);
  await servers.stop();
});

function registration(subject: string, id: string) {
  return envelopeOf({
    event: {
      $case: "sponsorRegistered",
      value: SponsorRegistered.fromPartial({ memberId: id, publicKey: new Uint8Array(32) }),
    },
    subject,
    eventId: id,
    causationId: id,
    correlationId: id,
    occurredAt: new Date(0),
  });
}

async function appendRegistration(kind: string, id: string): Promise<number> {
  const subject = store.subject(kind, id);
  return (await store.append(subject, registration(subject, id), { expectedLastSubjectSequence: 0, msgId: id })).seq;
}

async function eventually<T>(check: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(50);
    }
  }
}

async function lettersOf(consumer: string): Promise<DeadLetter[]> {
  return (await readDeadLetters(nc, deadLetters.names)).filter((letter) => letter.consumer === consumer);
}

describe("dead letters of a reaction (a durable consumer on another service's stream)", () => {
  test("the dead-letter stream is append-only, like the event streams", async () => {
    const info = await store.jsm.streams.info(deadLetters.names.stream);
    assert.equal(deadLetters.names.stream, `${namespace.toUpperCase()}_DEAD_IDENTITY`);
    assert.deepEqual(info.config.subjects, [`${namespace}.dead.identity.>`]);
    assert.equal(info.config.deny_purge, true);
    assert.equal(info.config.deny_delete, true);
  });

  test("garbage, an invalid event, a forged one and one whose reaction keeps failing are dead-lettered; the consumer moves on", async () => {
    const kind = "game";
    const durable = `${namespace}_identity_react_poison`;
    const handled: string[] = [];
    let failures = 0;
    const handle = async (event: StoredEvent) => {
      const id = event.envelope.aggregateId;
      if (id.startsWith("invalid")) throw new ValidationError("sponsor_id", "is malformed");
      if (id.startsWith("forged")) throw new DeadLetterError("forged", "the sponsor's signature does not verify");
      if (id.startsWith("throws")) {
        failures++;
        throw new Error("the reaction fails every time");
      }
      handled.push(id);
    };
    const before1 = await appendRegistration(kind, "ok-1");
    const h = natsHeaders();
    h.set("Pot-Event-Type", "pot.v1.GameResolved");
    h.set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    const garbage = await store.js.publish(store.subject(kind, "garbage"), new Uint8Array([0x0a, 0xff, 0x01]), {
      headers: h,
      msgID: "garbage-1",
    });
    const invalid = await appendRegistration(kind, "invalid-1");
    const forged = await appendRegistration(kind, "forged-1");
    const throws = await appendRegistration(kind, "throws-1");
    const after1 = await appendRegistration(kind, "ok-2");

    const reactor = await startReactor({
      store,
      sourceStream: store.names.stream,
      durable,
      filterSubject: `${store.names.prefix}.${kind}.>`,
      handle,
      deadLetters,
      deadLetterAfter: 3,
      concurrency: 1,
    });
    reactors.push(reactor);

    const letters = await eventually(async () => {
      const found = await lettersOf(durable);
      assert.equal(found.length, 4, `dead letters so far: ${found.map((l) => l.originalSeq).join(",")}`);
      return found;
    });
    const bySeq = new Map(letters.map((letter) => [letter.originalSeq, letter]));
    assert.equal(bySeq.get(garbage.seq)?.kind, "undecodable");
    assert.deepEqual([...bySeq.get(garbage.seq)!.data], [0x0a, 0xff, 0x01], "the original bytes");
    assert.equal(
      bySeq.get(garbage.seq)!.headers?.get("traceparent"),
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      "the original headers",
    );
    assert.equal(
      bySeq.get(garbage.seq)!.headers?.get("Nats-Msg-Id"),
      `dead:${store.names.stream}:${garbage.seq}:${durable}`,
    );
    assert.equal(bySeq.get(invalid)?.kind, "invalid");
    assert.match(bySeq.get(invalid)!.reason, /ValidationError: .*sponsor_id.*malformed/);
    assert.equal(bySeq.get(invalid)!.attempts, 1, "an invalid event is not retried");
    assert.equal(bySeq.get(forged)?.kind, "forged");
    assert.match(bySeq.get(forged)!.reason, /signature does not verify/);
    assert.equal(bySeq.get(throws)?.kind, "failed");
    assert.equal(bySeq.get(throws)!.attempts, 3);
    assert.equal(failures, 3, "a failing reaction gets exactly DEAD_LETTER_AFTER attempts");
    for (const letter of letters) {
      assert.equal(letter.stream, store.names.stream);
      assert.equal(letter.service, "identity");
      assert.equal(letter.consumer, durable);
      assert.ok(letter.originalSubject.startsWith(`${store.names.prefix}.${kind}.`));
      assert.ok(!Number.isNaN(Date.parse(letter.time)));
    }
    assert.deepEqual(handled.sort(), ["ok-1", "ok-2"]);
    assert.ok(before1 < garbage.seq && throws < after1);

    // Every original is acknowledged: nothing pending, nothing waiting for redelivery.
    await eventually(async () => {
      const info = await store.jsm.consumers.info(store.names.stream, durable);
      assert.equal(info.num_ack_pending, 0);
      assert.equal(info.num_pending, 0);
    });
    // The consumer goes on with later events.
    await appendRegistration(kind, "ok-3");
    await eventually(async () => assert.ok(handled.includes("ok-3")));

    const one = await readDeadLetter(nc, deadLetters.names, bySeq.get(forged)!.seq);
    assert.equal(one?.originalSeq, forged);
    assert.equal(one?.headers?.get(DEAD_LETTER_HEADERS.reasonKind), "forged");
    assert.equal(await readDeadLetter(nc, deadLetters.names, 9_999), undefined);
  });

  test("a message dead-lettered twice (a crash before the ack) is stored once", async () => {
    const seq = await appendRegistration("twice", "t-1");
    const message = {
      stream: store.names.stream,
      seq,
      subject: store.subject("twice", "t-1"),
      data: encodeEnvelope(registration(store.subject("twice", "t-1"), "t-1")),
      attempts: 1,
    };
    const first = await deadLetters.deadLetter(message, { kind: "failed", reason: "a\r\nb" }, "twice_consumer");
    const second = await deadLetters.deadLetter(message, { kind: "failed", reason: "a\r\nb" }, "twice_consumer");
    assert.equal(first, second);
    const [letter] = await lettersOf("twice_consumer");
    assert.equal(letter?.reason, "a b", "line breaks cannot split a header");
    const long = await deadLetters.deadLetter(
      { ...message, seq: seq + 100_000 },
      { kind: "failed", reason: "x".repeat(10_000) },
      "twice_consumer",
    );
    const cut = await readDeadLetter(nc, deadLetters.names, long);
    assert.equal([...cut!.reason].length, 500);
    assert.ok(cut!.reason.endsWith("…"));
  });

  test("a retry re-publishes on the original subject of this network only, and once", async () => {
    const subject = store.subject("redrive", "r-1");
    const data = encodeEnvelope(registration(subject, "r-1"));
    const letterSeq = await deadLetters.deadLetter(
      { stream: store.names.stream, seq: 424_242, subject, data, attempts: 5 },
      { kind: "failed", reason: "the reaction failed" },
      "redrive_consumer",
    );
    const eventStreams = [store.names];
    const retried = await retryDeadLetter(nc, deadLetters.names, letterSeq, { eventStreams });
    const message = await store.jsm.streams.getMessage(store.names.stream, { seq: retried.seq });
    assert.equal(message?.subject, subject);
    assert.deepEqual([...message!.data], [...data]);
    assert.equal(message?.header?.get("Pot-Dead-Letter-Retry"), `${deadLetters.names.stream}:${letterSeq}`);
    assert.equal(message?.header?.get(DEAD_LETTER_HEADERS.reason), "", "no dead-letter header travels back");
    const again = retryDeadLetter(nc, deadLetters.names, letterSeq, { eventStreams });
    await assert.rejects(again, (error: unknown) => {
      assert.ok(error instanceof DeadLetterRetryError);
      assert.equal(error.reason, "already-retried");
      return true;
    });
    assert.equal((await readDeadLetter(nc, deadLetters.names, letterSeq))?.retried?.as, retried.seq);

    // A dead letter naming a subject outside the network's streams is never re-driven there.
    const elsewhere = await deadLetters.deadLetter(
      { stream: "SOMEONE_ELSES", seq: 1, subject: "billing.charge.all", data, attempts: 1 },
      { kind: "failed", reason: "x" },
      "redrive_consumer",
    );
    await assert.rejects(retryDeadLetter(nc, deadLetters.names, elsewhere, { eventStreams }), /not re-driven/);
    await assert.rejects(
      retryDeadLetter(nc, deadLetters.names, 987_654, { eventStreams }),
      /no dead letter at sequence/,
    );
  });
});
