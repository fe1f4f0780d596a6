// docs:consumer:start
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Envelope } from "@pot/contracts";

/**
 * Follows one Proof-of-Trust stream with a durable consumer of its own, e.g.
 * followStream(nc, "POT_ADJUDICATOR", "billing", handle, signal): creates the consumer unless it
 * exists, hands each event to `handle` in stream order and acknowledges it once handled; a
 * redelivered event whose id was handled already is acknowledged without handling it again.
 */
export async function followStream(
  nc: NatsConnection,
  stream: string,
  durable: string,
  handle: (envelope: Envelope, message: JsMsg) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.add(stream, {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All, // from the first event; DeliverPolicy.New for what comes next
    ack_wait: 30_000_000_000, // nanoseconds: an event not acknowledged within 30 s comes again
    max_deliver: -1,
    max_ack_pending: 1_000,
    // filter_subject: "pot.adjudicator.game.>", // at most one filter per consumer on nats-server 2.9
  });
  const consumer = await jetstream(nc).consumers.get(stream, durable);
  const messages = await consumer.consume({ max_messages: 256 });
  signal.addEventListener("abort", () => void messages.close(), { once: true });
  const handled = new Set<string>(); // in production: the ids stored with the effects they had
  for await (const message of messages) {
    const envelope = Envelope.decode(message.data);
    if (envelope.event !== undefined && !handled.has(envelope.eventId)) {
      await handle(envelope, message);
      handled.add(envelope.eventId);
    }
    // An event type newer than this code (event undefined) is acknowledged and skipped.
    message.ack();
  }
}
// docs:consumer:end

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  admissionAction,
  consentOf,
  currentAgreement,
  newMember,
  newProposalId,
  PotClient,
  readEvents,
  sealMove,
  SERVICE_NAMES,
  streamNames,
  type AgreementRef,
  type Member,
  type ServiceName,
} from "@pot/client";
import { repoRoot } from "@pot/devenv";
import { EVENT_TYPE_HEADER } from "@pot/event-store";
import { DEFAULT_POLICY, type MoveName } from "@pot/mechanism";
import { eventually } from "./support/clients.js";
import { AGREEMENT, CONSENT_TTL_MS, TEST_NETWORK, TEST_OPERATOR } from "./support/players.js";
import { startSystem, type System } from "./support/system.js";
import { clientCredentials } from "./support/tls.js";

interface Received {
  readonly envelope: Envelope;
  readonly seq: number;
  readonly subject: string;
  readonly typeHeader: string | undefined;
  readonly redelivered: boolean;
}

/** What docs/events.md promises: for each event type, its stream and subject pattern. */
function documentedSubjects(namespace: string): Map<string, { stream: string; subject: RegExp }> {
  const doc = readFileSync(join(repoRoot(), "docs", "events.md"), "utf8");
  const section = doc.slice(doc.indexOf("## Subjects"), doc.indexOf("## Messages"));
  const out = new Map<string, { stream: string; subject: RegExp }>();
  for (const [, pattern, stream, events] of section.matchAll(/^\| `([^`]+)` \| `([^`]+)` \| (.+) \|$/gm)) {
    const regex = new RegExp(
      `^${pattern!
        .replace("<ns>", namespace)
        .split(".")
        .map((token) => (token.startsWith("<") ? "[^.]+" : token.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
        .join("\\.")}$`,
    );
    for (const [, type] of events!.matchAll(/\[(\w+)\]/g)) {
      out.set(`pot.v1.${type}`, { stream: stream!.replace("<NS>", namespace.toUpperCase()), subject: regex });
    }
  }
  return out;
}

/**
 * A downstream system's view: after games that produce every kind of event, a fresh durable
 * consumer on each stream, made exactly as docs/events.md says, reads and decodes every event.
 */
describe("downstream subscriptions", () => {
  let system: System;
  let client: PotClient;
  let agreement: AgreementRef;

  before(async () => {
    system = await startSystem();
    const address = (name: ServiceName) => system.services.get(name)!.grpcAddress;
    client = PotClient.connect(
      {
        identity: address("identity"),
        matchmaker: address("matchmaker"),
        adjudicator: address("adjudicator"),
      },
      { credentials: clientCredentials(system.pki), operators: [TEST_OPERATOR.keys] },
    );
  });

  after(async () => {
    client?.close();
    const codes = await system?.stop();
    assert.deepEqual(codes, [0, 0, 0]);
  });

  const forProposal = () => ({ proposalId: newProposalId(), expiresAtMs: Date.now() + CONSENT_TTL_MS });

  async function play(a: Member, b: Member, moves: [MoveName, MoveName]) {
    const candidate = newMember();
    const proposal = await eventually("a proposal to be accepted", () =>
      client.propose(a, b.id, admissionAction(consentOf(TEST_NETWORK, candidate, agreement, forProposal()))),
    );
    const { gameId } = await client.accept(b, proposal.proposalId);
    const sealed = moves.map((move) => sealMove(move));
    await eventually(`game ${gameId} to start`, () => client.commit(a, gameId, sealed[0]!));
    await client.commit(b, gameId, sealed[1]!);
    await client.reveal(a, gameId, sealed[0]!);
    return client.reveal(b, gameId, sealed[1]!);
  }

  test("a fresh durable consumer per stream decodes every event, in order, none missing", async () => {
    const documented = documentedSubjects(system.namespace);
    assert.equal(documented.size, 25, "docs/events.md lists the subject of every event type");

    // A workload that produces every event type of the contract.
    const g = Array.from({ length: 12 }, newMember);
    await client.bootstrap(
      g.map((member) => ({ publicKey: member.keys.publicKey })),
      { hash: AGREEMENT.hash, uri: AGREEMENT.uri },
    );
    for (const member of g) await eventually("the matchmaker to know the members", () => client.getStake(member.id));
    agreement = (await currentAgreement(system.nc, system.namespace))!;
    await play(g[0]!, g[1]!, ["cooperate", "cooperate"]);
    await play(g[2]!, g[3]!, ["defect", "cooperate"]);
    await play(g[4]!, g[5]!, ["defect", "defect"]);
    await eventually("the defector's credits", async () =>
      client.redeemCredit(
        g[2]!,
        await client.consent(newMember(), { controllerId: g[2]!.id, expiresAtMs: Date.now() + CONSENT_TTL_MS }),
      ),
    );
    const declined = await client.propose(
      g[6]!,
      g[7]!.id,
      admissionAction(await client.consent(newMember(), forProposal())),
    );
    await client.decline(g[7]!, declined.proposalId);
    const cancelled = await client.propose(
      g[8]!,
      g[9]!.id,
      admissionAction(consentOf(TEST_NETWORK, newMember(), agreement, forProposal())),
    );
    await client.cancel(g[8]!, cancelled.proposalId);
    await client.publishAgreement({ hash: new Uint8Array(32).fill(43), uri: "https://example.org/pot/agreement/v2" });
    await client.exclude(g[10]!.id, "violated the agreement");
    // The operators rotate their keys (here to the same key, 1 of 1: a new key set version); the adjudicator adopts it.
    await client.rotateOperatorKeys([TEST_OPERATOR.keys.publicKey], 1);
    // A rate target retargets the stake period every second (5 s after each second ends), and the matchmaker
    // adopts it; once it has, a policy without a target stops it, so that the streams come to rest.
    await client.publishPolicy({
      ...DEFAULT_POLICY,
      rateTarget: {
        admissionsPerInterval: 1,
        intervalMs: 1_000,
        maxStepPercent: 50,
        minStakePeriodMs: 1_000,
        maxStakePeriodMs: DEFAULT_POLICY.admission.stakePeriodMs,
      },
    });
    await eventually(
      "a retarget adopted by the matchmaker",
      async () => {
        for await (const record of readEvents(system.nc, { namespace: system.namespace, service: "matchmaker" })) {
          if (record.envelope.event?.$case === "stakePeriodAdopted") return true;
        }
        return undefined;
      },
      20_000,
    );
    await client.publishPolicy(DEFAULT_POLICY);

    // The reactions settle: every type is on a stream and the streams stop growing.
    const ends = await eventually(
      "every event type on the streams, and the streams at rest",
      async () => {
        const types = new Set<string>();
        const lastSeqs: number[] = [];
        for (const service of SERVICE_NAMES) {
          let last = 0;
          for await (const record of readEvents(system.nc, { namespace: system.namespace, service })) {
            types.add(record.envelope.type);
            last = record.seq;
          }
          lastSeqs.push(last);
        }
        if (types.size < documented.size) return undefined;
        await new Promise((resolve) => setTimeout(resolve, 300));
        const jsm = await jetstreamManager(system.nc);
        for (const [index, service] of SERVICE_NAMES.entries()) {
          const info = await jsm.streams.info(streamNames(system.namespace, service).stream);
          if (info.state.last_seq !== lastSeqs[index]) return undefined;
        }
        return lastSeqs;
      },
      30_000,
    );

    // Now a downstream system arrives: one fresh durable consumer per stream.
    const seenTypes = new Set<string>();
    for (const [index, service] of SERVICE_NAMES.entries()) {
      const stream = streamNames(system.namespace, service).stream;
      const last = ends[index]!;
      const received: Received[] = [];
      const stop = new AbortController();
      const following = followStream(
        system.nc,
        stream,
        `downstream_${service}`,
        async (envelope, message) => {
          received.push({
            envelope,
            seq: message.seq,
            subject: message.subject,
            typeHeader: message.headers?.get(EVENT_TYPE_HEADER),
            redelivered: message.redelivered,
          });
          if (message.seq >= last) stop.abort();
        },
        AbortSignal.any([stop.signal, AbortSignal.timeout(20_000)]),
      );
      await following;

      const jsm = await jetstreamManager(system.nc);
      const info = await jsm.streams.info(stream);
      assert.equal(received.length, info.state.messages, `${stream}: as many events decoded as the stream holds`);
      assert.deepEqual(
        received.map((r) => r.seq),
        Array.from({ length: last }, (_, i) => i + 1),
        `${stream}: every sequence once, in order`,
      );
      assert.equal(new Set(received.map((r) => r.envelope.eventId)).size, received.length, "event ids are unique");
      for (const r of received) {
        const where = `${stream} #${r.seq} ${r.envelope.type}`;
        assert.ok(r.envelope.event, `${where}: has an event body`);
        assert.equal(
          r.envelope.type,
          `pot.v1.${r.envelope.event.$case[0]!.toUpperCase()}${r.envelope.event.$case.slice(1)}`,
        );
        assert.equal(r.typeHeader, r.envelope.type, `${where}: the Pot-Event-Type header`);
        const promise = documented.get(r.envelope.type);
        assert.ok(promise, `${where}: documented in docs/events.md`);
        assert.equal(promise.stream, stream, `${where}: on the documented stream`);
        assert.match(r.subject, promise.subject, `${where}: on the documented subject`);
        assert.equal(r.subject.split(".").at(-1), r.envelope.aggregateId, `${where}: aggregate id is the last token`);
        assert.equal(r.redelivered, false);
        seenTypes.add(r.envelope.type);
      }
      // Everything was acknowledged: a restart of this consumer would deliver nothing again.
      await eventually(`${stream}: the consumer's acknowledgements`, async () => {
        const consumer = await jsm.consumers.info(stream, `downstream_${service}`);
        return consumer.num_pending === 0 && consumer.num_ack_pending === 0 && consumer.ack_floor.stream_seq === last
          ? true
          : undefined;
      });
    }
    assert.deepEqual([...seenTypes].sort(), [...documented.keys()].sort(), "every documented event type was decoded");
  });
});
