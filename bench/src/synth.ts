import { randomInt } from "node:crypto";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { encodeEnvelope, envelopeHeaders, envelopeOf, type EventBody, type StreamNames } from "@pot/event-store";
import { DEFAULT_POLICY, memberIdOf, type ActionSpec, NO_OPENING } from "@pot/mechanism";
import {
  gameEventToWire,
  ledgerEventToWire,
  memberEventToWire,
  type GameEvent,
  type LedgerEvent,
  type MemberEvent,
} from "./service-modules.js";

export type SynthService = "identity" | "matchmaker" | "adjudicator";

/** One wire message of a service's stream, as its event store would append it. */
export interface SynthMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs;
}

/**
 * Valid event streams of a busy network, written with the services' own wire codecs and envelope
 * (keys, signatures and nonces are random bytes: projections store them, they never verify them).
 * Each generator yields the events of one game after another, in the shape the live services
 * append them:
 * - identity: the candidate's MemberAdmitted; every fourth game also grants a sponsor credits
 *   (an update of an existing row);
 * - matchmaker (one ledger subject): SponsorRegistered, ProposalMade, GameOpened, StakesSettled;
 * - adjudicator: GameStarted, two MoveCommitted, two MoveRevealed, GameResolved.
 */
export function* synthesize(service: SynthService, names: StreamNames, startAt = Date.now()): Generator<SynthMessage> {
  const events =
    service === "identity"
      ? identityEvents(startAt)
      : service === "matchmaker"
        ? ledgerEvents(startAt)
        : gameEvents(startAt);
  let index = 0;
  for (const { aggregate, id, body, at } of events) {
    const subject = `${names.prefix}.${aggregate}.${id}`;
    const eventId = `${aggregate}.${id}/synth-${index++}/0`;
    const envelope = envelopeOf({
      event: body,
      subject,
      eventId,
      causationId: eventId,
      correlationId: id,
      occurredAt: new Date(at),
    });
    yield { subject, data: encodeEnvelope(envelope), headers: envelopeHeaders(envelope) };
  }
}

interface SynthEvent {
  readonly aggregate: string;
  readonly id: string;
  readonly body: EventBody;
  readonly at: number;
}

const AGREEMENT_HASH = new Uint8Array(32).fill(42);

// Keys, signatures and nonces only need to be distinct, not secret: xorshift32 is far cheaper than
// the system's random source (which dominated a profile of this generator).
let state = randomInt(1, 2 ** 31);

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 4) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[offset] = state;
    bytes[offset + 1] = state >>> 8;
    bytes[offset + 2] = state >>> 16;
    bytes[offset + 3] = state >>> 24;
  }
  return bytes;
}

function member(): { memberId: string; publicKey: Uint8Array } {
  const publicKey = randomBytes(32);
  return { memberId: memberIdOf(publicKey), publicKey };
}

function admissionAction(candidateKey: Uint8Array, proposalId: string, expiresAtMs: number): ActionSpec {
  return {
    type: "admission",
    candidatePublicKey: candidateKey,
    agreementVersion: 1,
    agreementHash: AGREEMENT_HASH,
    consentProposalId: proposalId,
    consentControllerId: "",
    consentExpiresAtMs: expiresAtMs,
    consentSignature: randomBytes(64),
  };
}

function uuid(n: number): string {
  const hex = n.toString(16).padStart(12, "0");
  return `00000000-0000-4000-8000-${hex}`;
}

function* identityEvents(startAt: number): Generator<SynthEvent> {
  const sponsors = [member(), member()];
  for (let game = 0; ; game++) {
    const at = startAt + game;
    const candidate = member();
    const event: MemberEvent = {
      type: "MemberAdmitted",
      memberId: candidate.memberId,
      publicKey: candidate.publicKey,
      kind: "sponsored",
      sponsorIds: sponsors.map((s) => s.memberId),
      controllerId: "",
      gameId: uuid(game),
      consent: {
        candidatePublicKey: candidate.publicKey,
        agreementVersion: 1,
        agreementHash: AGREEMENT_HASH,
        proposalId: uuid(game),
        controllerId: "",
        expiresAtMs: at + 86_400_000,
        signature: randomBytes(64),
      },
      displayName: "",
      admittedAt: at,
    };
    yield { aggregate: "member", id: candidate.memberId, body: memberEventToWire(event), at };
    sponsors.shift();
    sponsors.push(candidate);
    if (game % 4 === 3) {
      const grant: MemberEvent = {
        type: "CreditsGranted",
        memberId: candidate.memberId,
        gameId: uuid(game),
        count: 2,
        expiresAtMs: at + 365 * 86_400_000,
      };
      yield { aggregate: "member", id: candidate.memberId, body: memberEventToWire(grant), at };
    }
  }
}

function* ledgerEvents(startAt: number): Generator<SynthEvent> {
  const ledger = (event: LedgerEvent, at: number): SynthEvent => ({
    aggregate: "ledger",
    id: "ledger",
    body: ledgerEventToWire(event),
    at,
  });
  const sponsors = [member(), member()];
  for (const sponsor of sponsors) yield ledger({ type: "SponsorRegistered", ...sponsor }, startAt);
  for (let game = 0; ; game++) {
    const at = startAt + game;
    const [a, b] = sponsors as [ReturnType<typeof member>, ReturnType<typeof member>];
    const candidate = member();
    const gameId = uuid(game);
    const action = admissionAction(candidate.publicKey, gameId, at + 86_400_000);
    yield ledger(
      {
        type: "ProposalMade",
        proposalId: gameId,
        proposerId: a.memberId,
        partnerId: b.memberId,
        action,
        madeAt: at,
        expiresAt: at + DEFAULT_POLICY.proposalTtlMs,
        signature: randomBytes(64),
      },
      at,
    );
    yield ledger(
      {
        type: "GameOpened",
        gameId,
        sponsorA: a,
        sponsorB: b,
        action,
        policyVersion: 1,
        openedAt: at,
        stakeLockedUntil: at + DEFAULT_POLICY.admission.stakePeriodMs,
        pairCooldownUntil: at + DEFAULT_POLICY.pairCooldownMs,
        opening: NO_OPENING,
      },
      at,
    );
    yield ledger({ type: "StakesSettled", gameId, suspensions: [], released: false }, at);
    yield ledger({ type: "SponsorRegistered", ...candidate }, at);
    sponsors.shift();
    sponsors.push(candidate);
  }
}

function* gameEvents(startAt: number): Generator<SynthEvent> {
  for (let game = 0; ; game++) {
    const at = startAt + game;
    const gameId = uuid(game);
    const a = member();
    const b = member();
    const action = admissionAction(member().publicKey, gameId, at + 86_400_000);
    const events: GameEvent[] = [
      {
        type: "GameStarted",
        gameId,
        sponsorA: a,
        sponsorB: b,
        action,
        policy: DEFAULT_POLICY,
        openedAt: at,
        commitDeadline: at + DEFAULT_POLICY.admission.commitWindowMs,
        opening: NO_OPENING,
      },
      ...[a, b].map((sponsor): GameEvent => ({
        type: "MoveCommitted",
        gameId,
        memberId: sponsor.memberId,
        commitment: randomBytes(32),
        signature: randomBytes(64),
        at,
      })),
      ...[a, b].map((sponsor): GameEvent => ({
        type: "MoveRevealed",
        gameId,
        memberId: sponsor.memberId,
        move: "cooperate",
        nonce: randomBytes(32),
        signature: randomBytes(64),
        at,
      })),
      {
        type: "GameResolved",
        gameId,
        sponsorA: a,
        sponsorB: b,
        action,
        policyVersion: 1,
        outcome: "both-cooperated",
        moveA: "cooperate",
        moveB: "cooperate",
        resolvedAt: at,
        admitted: true,
        granted: false,
        credits: [],
        suspensions: [],
        noShowIds: [],
      },
    ];
    for (const event of events) yield { aggregate: "game", id: gameId, body: gameEventToWire(event), at };
  }
}

/**
 * Appends `count` messages with JetStream acks, `inFlight` publishes outstanding at a time.
 * Returns how long it took and the stream sequence of the last one.
 */
export async function publishPipelined(
  js: JetStreamClient,
  messages: Iterator<SynthMessage>,
  count: number,
  inFlight = 256,
): Promise<{ ms: number; lastSeq: number }> {
  const started = performance.now();
  let lastSeq = 0;
  let sent = 0;
  let failure: unknown;
  const pending = new Set<Promise<void>>();
  while (sent < count && failure === undefined) {
    const next = messages.next();
    if (next.done) break;
    const { subject, data, headers } = next.value;
    const task: Promise<void> = js
      .publish(subject, data, { headers })
      .then(
        (ack) => void (lastSeq = Math.max(lastSeq, ack.seq)),
        (error: unknown) => void (failure ??= error),
      )
      .finally(() => pending.delete(task));
    pending.add(task);
    sent++;
    if (pending.size >= inFlight) await Promise.race(pending);
  }
  await Promise.all(pending);
  if (failure !== undefined) throw failure;
  return { ms: performance.now() - started, lastSeq };
}

/**
 * Publishes `count` messages without asking for acks (core NATS publishes on the stream's
 * subjects), with a flush every 1000 so the client never runs far ahead of the broker, then waits
 * until the stream has stored them all: the broker's own store rate, several times what acked
 * publishes through nats.js reach. Throws when the stream does not end at `expectedLastSeq`.
 */
export async function publishUnacked(
  nc: NatsConnection,
  jsm: JetStreamManager,
  stream: string,
  messages: Iterator<SynthMessage>,
  count: number,
  expectedLastSeq: number,
): Promise<{ ms: number }> {
  const started = performance.now();
  for (let index = 0; index < count; index++) {
    const next = messages.next();
    if (next.done) throw new Error(`the generator ended after ${index} messages`);
    nc.publish(next.value.subject, next.value.data, { headers: next.value.headers });
    if (index % 1_000 === 999) await nc.flush();
  }
  await nc.flush();
  for (let attempt = 0; ; attempt++) {
    const { state } = await jsm.streams.info(stream);
    if (state.last_seq >= expectedLastSeq) {
      if (state.last_seq !== expectedLastSeq || state.messages < expectedLastSeq) {
        throw new Error(
          `${stream} holds ${state.messages} messages up to ${state.last_seq}, expected ${expectedLastSeq}`,
        );
      }
      return { ms: performance.now() - started };
    }
    if (attempt > 500) throw new Error(`${stream} stored only up to ${state.last_seq} of ${expectedLastSeq}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
