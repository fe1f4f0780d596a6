import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Envelope, GameResolved, MemberExcluded, MemberStatus, Outcome } from "@pot/contracts";
import {
  deadLetterNames,
  durableName,
  encodeEnvelope,
  envelopeHeaders,
  envelopeOf,
  readDeadLetters,
  streamNames,
  type DeadLetter,
} from "@pot/event-store";
import { eventually } from "./support/clients.js";
import { admissionOf, bootstrap, newMember, playGame, signedExclude, type Member } from "./support/players.js";
import { readStream } from "./support/streams.js";
import { SERVICES, startSystem, type System } from "./support/system.js";

const query = { minSequence: 0n, consistencyToken: "" };
const GARBAGE = new Uint8Array([0x0a, 0xff, 0xff, 0x00, 0x13]);

/**
 * Poison on every stream of a running network (three service processes, real NATS, Postgres,
 * gRPC): garbage bytes on each stream and on the matchmaker's ledger, a valid type with invalid
 * content, a NUL in free text. Every consumer dead-letters what it cannot use, with its reason,
 * stream and sequence, acknowledges it and moves on; the read models go on; the matchmaker's
 * catch-up refuses the garbage on its ledger instead of failing every Propose; the identity read
 * model stores the NUL as U+FFFD.
 */
describe("poison events are dead-lettered; nothing stalls", () => {
  let system: System;
  const genesis: Member[] = Array.from({ length: 6 }, newMember);

  before(async () => {
    system = await startSystem({ env: { DEAD_LETTER_AFTER: "2" } });
  });

  after(async () => {
    const codes = await system?.stop();
    assert.deepEqual(codes, [0, 0, 0]);
  });

  test("garbage, invalid events and NULs on every stream: dead-lettered, and the network goes on", async () => {
    const { namespace, nc, clients } = system;
    await bootstrap(clients, genesis);
    const js = jetstream(nc);
    const names = Object.fromEntries(SERVICES.map((s) => [s, streamNames(namespace, s)])) as Record<
      (typeof SERVICES)[number],
      ReturnType<typeof streamNames>
    >;
    const ledgerSubject = await eventually("the matchmaker's ledger subject", async () => {
      const events = await readStream(nc, names.matchmaker.stream);
      return events.find((event) => event.subject.startsWith(`${names.matchmaker.prefix}.ledger.`))?.subject;
    });

    // Garbage on each stream (the ledger's own subject for the matchmaker).
    const identityGarbage = (await js.publish(`${names.identity.prefix}.member.garbage`, GARBAGE)).seq;
    const ledgerGarbage = (await js.publish(ledgerSubject, GARBAGE)).seq;
    const gameGarbage = (await js.publish(`${names.adjudicator.prefix}.game.garbage`, GARBAGE)).seq;
    // A valid type with invalid content: a GameResolved without its sponsors.
    const invalidSubject = `${names.adjudicator.prefix}.game.invalid`;
    const invalid = envelopeOf({
      event: { $case: "gameResolved", value: GameResolved.fromPartial({ gameId: "invalid" }) },
      subject: invalidSubject,
      eventId: "invalid-1",
      causationId: "invalid-1",
      correlationId: "invalid-1",
      occurredAt: new Date(),
    });
    const invalidSeq = (
      await js.publish(invalidSubject, encodeEnvelope(invalid), { headers: envelopeHeaders(invalid) })
    ).seq;
    // A NUL in free text (an exclusion reason) of an event on the identity stream, signed by the operator
    // (an exclusion is an operator act the matchmaker re-checks: unsigned, it would be refused as forged).
    const excluded = genesis[5]!;
    const signed = signedExclude({ requestId: "nul-1", memberId: excluded.id, reason: "cheat\u0000ed" });
    const nulSubject = `${names.identity.prefix}.member.${excluded.id}`;
    const exclusion: Envelope = envelopeOf({
      event: {
        $case: "memberExcluded",
        value: MemberExcluded.fromPartial({
          memberId: excluded.id,
          reason: "cheat\u0000ed",
          excludedAtMs: BigInt(Date.now()),
          requestId: signed.requestId,
          operatorKeysVersion: 1,
          operatorSignatures: signed.operatorSignatures,
        }),
      },
      subject: nulSubject,
      eventId: "nul-1",
      causationId: "nul-1",
      correlationId: "nul-1",
      occurredAt: new Date(),
    });
    await js.publish(nulSubject, encodeEnvelope(exclusion), { headers: envelopeHeaders(exclusion) });

    // The matchmaker's ledger catch-up refuses its garbage: proposals, and whole games, go on.
    const candidate = newMember();
    const { gameId, last } = await eventually("a game to be played past the poison", () =>
      playGame(clients, genesis[0]!, genesis[1]!, admissionOf(candidate), ["cooperate", "cooperate"]),
    );
    assert.equal(last.outcome, Outcome.OUTCOME_BOTH_COOPERATED);

    // The read models went on past the poison.
    await eventually("the adjudicator's read model to show the game", async () => {
      const { game } = await clients.adjudicator.getGame({ gameId, ...query });
      return game?.outcome === Outcome.OUTCOME_BOTH_COOPERATED ? game : undefined;
    });
    await eventually("identity's read model to admit the candidate", async () => {
      const { member } = await clients.identity.getMember({ memberId: candidate.id, ...query });
      return member?.status === MemberStatus.MEMBER_STATUS_ACTIVE ? member : undefined;
    });
    const { member } = await eventually("identity's read model to show the exclusion", async () => {
      const response = await clients.identity.getMember({ memberId: excluded.id, ...query });
      return response.member?.status === MemberStatus.MEMBER_STATUS_EXCLUDED ? response : undefined;
    });
    assert.equal(member?.exclusionReason, "cheat\uFFFDed", "the NUL is stored as U+FFFD");

    // Every consumer dead-lettered the poison it reads, with reason, stream and sequence.
    const durable = (reader: (typeof SERVICES)[number], role: string, source: (typeof SERVICES)[number]) =>
      durableName(namespace, reader, role, source);
    const expected: [string, string, number, string][] = [
      [durable("identity", "views", "identity"), names.identity.stream, identityGarbage, "undecodable"],
      [durable("identity", "react", "identity"), names.identity.stream, identityGarbage, "undecodable"],
      [durable("identity", "react", "adjudicator"), names.adjudicator.stream, gameGarbage, "undecodable"],
      [durable("matchmaker", "views", "matchmaker"), names.matchmaker.stream, ledgerGarbage, "undecodable"],
      [durable("matchmaker", "react", "identity"), names.identity.stream, identityGarbage, "undecodable"],
      [durable("matchmaker", "react", "adjudicator"), names.adjudicator.stream, gameGarbage, "undecodable"],
      [durable("adjudicator", "views", "adjudicator"), names.adjudicator.stream, gameGarbage, "undecodable"],
      [durable("adjudicator", "views", "adjudicator"), names.adjudicator.stream, invalidSeq, "invalid"],
      [durable("adjudicator", "react", "matchmaker"), names.matchmaker.stream, ledgerGarbage, "undecodable"],
    ];
    const letters = await eventually("every consumer to dead-letter its poison", async () => {
      const all: DeadLetter[] = [];
      for (const service of SERVICES) all.push(...(await readDeadLetters(nc, deadLetterNames(namespace, service))));
      const missing = expected.filter(
        ([consumer, stream, seq, kind]) =>
          !all.some((l) => l.consumer === consumer && l.stream === stream && l.originalSeq === seq && l.kind === kind),
      );
      return missing.length === 0 ? all : undefined;
    });
    for (const letter of letters) {
      assert.ok(letter.reason.length > 0, `a reason for ${letter.consumer} ${letter.originalSeq}`);
      assert.ok(letter.consumer.startsWith(`${namespace}_${letter.service}_`), "in its consumer's service's stream");
      if (letter.kind === "undecodable") assert.deepEqual([...letter.data], [...GARBAGE], "the original bytes");
    }
    const invalidLetter = letters.find((l) => l.originalSeq === invalidSeq && l.kind === "invalid");
    assert.match(invalidLetter!.reason, /ValidationError/);
    assert.equal(invalidLetter!.originalSubject, invalidSubject);
    assert.ok(
      !letters.some((l) => l.originalSubject === nulSubject),
      "the NUL is stored in a safe form, not dead-lettered",
    );

    // Nothing is stuck: every durable consumer has acknowledged everything it was given.
    const jsm = await jetstreamManager(nc);
    const durables = new Set(expected.map(([consumer]) => consumer));
    let stuck: string[] = [];
    await eventually("every durable consumer to have nothing pending", async () => {
      stuck = [];
      for (const source of SERVICES) {
        for await (const info of jsm.consumers.list(names[source].stream)) {
          if (!info.config.durable_name) continue;
          durables.delete(info.config.durable_name);
          if (info.num_ack_pending > 0 || info.num_pending > 0) {
            stuck.push(`${info.name}: ${info.num_pending} pending, ${info.num_ack_pending} unacknowledged`);
          }
        }
      }
      return stuck.length === 0 ? true : undefined;
    }).catch((error: unknown) => assert.fail(`${String(error)}: ${stuck.join("; ")}`));
    assert.deepEqual([...durables], [], "every durable consumer was checked");
  });
});
