import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { GameResolved, MemberAdmitted, MemberExcluded, type AdmissionKind, type Envelope } from "@pot/contracts";
import {
  deadLetterNames,
  durableName,
  encodeEnvelope,
  envelopeHeaders,
  envelopeOf,
  readDeadLetters,
  streamNames,
  type DeadLetter,
  type ServiceName,
} from "@pot/event-store";
import { STREAM_SERVICES } from "./fault-audit.js";
import { newMember, signedExclude, type Member } from "./players.js";

/** Bytes that are no envelope: a protobuf field header promising more than there is. */
export const GARBAGE = new Uint8Array([0x0a, 0xff, 0xff, 0x00, 0x13]);

/** A poison message the suite put on a stream, and what its consumers must do with it. */
export interface Poison {
  readonly what: string;
  readonly stream: string;
  readonly seq: number;
  readonly subject: string;
  /**
   * The durable consumers that must dead-letter it, with the reason kind; none for a message the
   * consumers take in a safe form instead (a NUL in free text).
   */
  readonly deadLetteredBy: readonly { readonly consumer: string; readonly kind: string }[];
  /**
   * What `pot verify` does with it: skips it (cannot decode or check it), reports it as a mismatch
   * (a well-formed event nothing justifies), or takes it as it is (a NUL in free text).
   */
  readonly verify: "skipped" | "reported" | "accepted";
}

/**
 * The durable consumers reading each stream that follow `subject` (identity's reaction to the
 * adjudicator follows games only, the adjudicator's to identity the network only).
 */
function consumersOf(namespace: string, source: ServiceName, subject: string): string[] {
  const durable = (reader: ServiceName, role: string) => durableName(namespace, reader, role, source);
  switch (source) {
    case "identity":
      return [
        durable("identity", "views"),
        durable("identity", "react"),
        durable("matchmaker", "react"),
        // The adjudicator follows only the network's subject (the operator keys).
        ...(subject === `${streamNames(namespace, "identity").prefix}.network.network`
          ? [durable("adjudicator", "react")]
          : []),
      ];
    case "matchmaker":
      return [durable("matchmaker", "views"), durable("adjudicator", "react")];
    case "adjudicator":
      return [
        durable("adjudicator", "views"),
        durable("matchmaker", "react"),
        ...(subject.startsWith(`${streamNames(namespace, "adjudicator").prefix}.game.`)
          ? [durable("identity", "react")]
          : []),
      ];
  }
}

/**
 * Poison of every kind the consumers can meet, on every stream and on every kind of aggregate
 * subject, the live aggregates' own subjects included (a member, the network, the matchmaker's
 * ledger, a game, the policy): bytes that are no envelope on each (undecodable); a valid type with
 * invalid content, a GameResolved without its sponsors or their signatures, on a game (invalid for
 * the read models, forged for the reactions); an admission of an unknown kind on a new member's
 * subject (invalid for the read models, forged for the matchmaker); a NUL in free
 * text (an exclusion reason) of `victim`, a member that plays no game (stored safely, dead-lettered
 * by none).
 */
export async function injectPoison(
  nc: NatsConnection,
  namespace: string,
  targets: { readonly member: string; readonly gameId: string; readonly victim: Member; readonly round: number },
): Promise<Poison[]> {
  const js = jetstream(nc);
  const names = Object.fromEntries(STREAM_SERVICES.map((s) => [s, streamNames(namespace, s)])) as Record<
    ServiceName,
    ReturnType<typeof streamNames>
  >;
  const poison: Poison[] = [];
  const garbage = async (source: ServiceName, subject: string, what: string) => {
    const { seq } = await js.publish(subject, GARBAGE);
    poison.push({
      what,
      stream: names[source].stream,
      seq,
      subject,
      deadLetteredBy: consumersOf(namespace, source, subject).map((consumer) => ({ consumer, kind: "undecodable" })),
      verify: "skipped",
    });
  };
  await garbage("identity", `${names.identity.prefix}.member.${targets.member}`, "garbage on a member's subject");
  await garbage("identity", `${names.identity.prefix}.network.network`, "garbage on the network's subject");
  await garbage("matchmaker", `${names.matchmaker.prefix}.ledger.ledger`, "garbage on the matchmaker's ledger");
  await garbage("adjudicator", `${names.adjudicator.prefix}.game.${targets.gameId}`, "garbage on a game's subject");
  await garbage("adjudicator", `${names.adjudicator.prefix}.policy.network`, "garbage on the policy's subject");

  const envelope = (subject: string, eventId: string, event: Envelope["event"]) =>
    envelopeOf({
      event: event!,
      subject,
      eventId,
      causationId: eventId,
      correlationId: eventId,
      occurredAt: new Date(),
    });
  // A valid type with invalid content: the adjudicator's read models refuse it (its codec).
  const invalidSubject = `${names.adjudicator.prefix}.game.${targets.gameId}`;
  const invalid = envelope(invalidSubject, `poison-invalid-${targets.round}`, {
    $case: "gameResolved",
    value: GameResolved.fromPartial({ gameId: targets.gameId }),
  });
  const { seq: invalidSeq } = await js.publish(invalidSubject, encodeEnvelope(invalid), {
    headers: envelopeHeaders(invalid),
  });
  poison.push({
    what: "a GameResolved without its sponsors on a game's subject",
    stream: names.adjudicator.stream,
    seq: invalidSeq,
    subject: invalidSubject,
    // Its codec refuses it in the adjudicator's read models; the reactions that settle stakes and
    // admit members refuse it first for want of the sponsors' signatures.
    deadLetteredBy: [
      { consumer: durableName(namespace, "adjudicator", "views", "adjudicator"), kind: "invalid" },
      { consumer: durableName(namespace, "matchmaker", "react", "adjudicator"), kind: "forged" },
      { consumer: durableName(namespace, "identity", "react", "adjudicator"), kind: "forged" },
    ],
    verify: "skipped",
  });
  // An admission of a kind this code does not know: identity's read models cannot take it (invalid);
  // the matchmaker finds no signatures that admit the member (forged); verify reports it.
  const stranger = newMember();
  const strangeSubject = `${names.identity.prefix}.member.${stranger.id}`;
  const strange = envelope(strangeSubject, `poison-failed-${targets.round}`, {
    $case: "memberAdmitted",
    value: MemberAdmitted.fromPartial({
      memberId: stranger.id,
      publicKey: stranger.keys.publicKey,
      kind: 99 as AdmissionKind,
      admittedAtMs: BigInt(Date.now()),
    }),
  });
  const { seq: strangeSeq } = await js.publish(strangeSubject, encodeEnvelope(strange), {
    headers: envelopeHeaders(strange),
  });
  poison.push({
    what: "a MemberAdmitted of an unknown admission kind",
    stream: names.identity.stream,
    seq: strangeSeq,
    subject: strangeSubject,
    deadLetteredBy: [
      { consumer: durableName(namespace, "identity", "views", "identity"), kind: "invalid" },
      { consumer: durableName(namespace, "matchmaker", "react", "identity"), kind: "forged" },
    ],
    verify: "reported",
  });
  // A NUL in free text: stored as U+FFFD by the read models, dead-lettered by none. The exclusion is
  // an operator act, signed as one (the matchmaker refuses an unsigned one as forged).
  const nulSubject = `${names.identity.prefix}.member.${targets.victim.id}`;
  const reason = `poison\u0000${targets.round}`;
  const signed = signedExclude({ requestId: `poison-nul-${targets.round}`, memberId: targets.victim.id, reason });
  const nul = envelope(nulSubject, `poison-nul-${targets.round}`, {
    $case: "memberExcluded",
    value: MemberExcluded.fromPartial({
      memberId: targets.victim.id,
      reason,
      excludedAtMs: BigInt(Date.now()),
      requestId: signed.requestId,
      operatorKeysVersion: 1,
      operatorSignatures: signed.operatorSignatures,
    }),
  });
  const { seq: nulSeq } = await js.publish(nulSubject, encodeEnvelope(nul), { headers: envelopeHeaders(nul) });
  poison.push({
    what: "a NUL in an exclusion reason",
    stream: names.identity.stream,
    seq: nulSeq,
    subject: nulSubject,
    deadLetteredBy: [],
    verify: "accepted",
  });
  return poison;
}

export interface PoisonCheck {
  /** Dead letters found as expected (poison message x consumer). */
  readonly found: number;
  readonly missing: string[];
  /** Dead letters of messages that are not poison: a consumer gave up on a good event. */
  readonly unexpected: string[];
}

/**
 * Every poison message is in the dead-letter stream of each consumer that must give up on it, with
 * its reason kind, a reason, its stream, sequence and subject; nothing else is dead-lettered.
 */
export async function checkDeadLetters(
  nc: NatsConnection,
  namespace: string,
  poison: readonly Poison[],
): Promise<PoisonCheck> {
  const letters: DeadLetter[] = [];
  for (const service of STREAM_SERVICES)
    letters.push(...(await readDeadLetters(nc, deadLetterNames(namespace, service))));
  const missing: string[] = [];
  let found = 0;
  for (const message of poison) {
    for (const { consumer, kind } of message.deadLetteredBy) {
      const letter = letters.find(
        (l) => l.consumer === consumer && l.stream === message.stream && l.originalSeq === message.seq,
      );
      if (letter === undefined)
        missing.push(`${message.what} (${message.stream} ${message.seq}): not dead-lettered by ${consumer}`);
      else if (letter.kind !== kind || letter.reason.length === 0 || letter.originalSubject !== message.subject) {
        missing.push(
          `${message.what} (${message.stream} ${message.seq}): dead-lettered by ${consumer} as ${letter.kind} ("${letter.reason}") on ${letter.originalSubject}, wanted ${kind} on ${message.subject}`,
        );
      } else found++;
    }
  }
  const expected = (l: DeadLetter) =>
    poison.some(
      (p) =>
        p.stream === l.stream && p.seq === l.originalSeq && p.deadLetteredBy.some((d) => d.consumer === l.consumer),
    );
  const unexpected = letters
    .filter((l) => !expected(l))
    .map((l) => `${l.consumer} dead-lettered ${l.stream} ${l.originalSeq} (${l.kind}: ${l.reason})`);
  return { found, missing, unexpected };
}
