import { setTimeout as sleep } from "node:timers/promises";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Outcome, type Envelope } from "@pot/contracts";
import { decodeEnvelope, streamNames } from "@pot/event-store";
import { memberIdOf } from "@pot/mechanism";
import type { Played } from "./fault-workload.js";
import type { Member } from "./players.js";

export const STREAM_SERVICES = ["identity", "matchmaker", "adjudicator"] as const;

export interface StoredEnvelope {
  readonly seq: number;
  readonly envelope: Envelope;
}

/**
 * Every event of a stream from its first to its last message (as of the call), in order, but those
 * whose sequence `skip` holds (the poison the suite put there).
 */
export async function readStream(
  nc: NatsConnection,
  stream: string,
  skip: ReadonlySet<number> = new Set(),
): Promise<StoredEnvelope[]> {
  const jsm = await jetstreamManager(nc);
  const last = (await jsm.streams.info(stream)).state.last_seq;
  const out: StoredEnvelope[] = [];
  if (last === 0) return out;
  const consumer = await jetstream(nc).consumers.get(stream);
  const messages = await consumer.consume({ max_messages: 1_000 });
  try {
    for await (const message of messages) {
      if (!skip.has(message.seq)) out.push({ seq: message.seq, envelope: decodeEnvelope(message.data) });
      if (message.seq >= last) break;
    }
  } finally {
    await messages.close();
  }
  return out;
}

export interface ConsumerState {
  readonly stream: string;
  readonly durable: string;
  readonly pending: number;
  readonly ackPending: number;
  readonly redelivered: number;
}

/** The durable consumers of the network's streams and what each has not processed. */
export async function durableConsumers(jsm: JetStreamManager, namespace: string): Promise<ConsumerState[]> {
  const out: ConsumerState[] = [];
  for (const service of STREAM_SERVICES) {
    const stream = streamNames(namespace, service).stream;
    for await (const info of jsm.consumers.list(stream)) {
      if (!info.config.durable_name) continue;
      out.push({
        stream,
        durable: info.config.durable_name,
        pending: info.num_pending,
        ackPending: info.num_ack_pending,
        redelivered: info.num_redelivered,
      });
    }
  }
  return out;
}

/**
 * Waits until every durable consumer has nothing pending and nothing unacknowledged and the
 * streams stopped growing (reactions append, and what they append is consumed in turn); returns
 * the consumers as they were last seen, stuck ones included when `timeoutMs` ran out.
 */
export async function waitForQuiet(
  nc: NatsConnection,
  namespace: string,
  timeoutMs: number,
): Promise<{ consumers: ConsumerState[]; quiet: boolean; waitedMs: number }> {
  const jsm = await jetstreamManager(nc);
  const started = Date.now();
  const ends = async () =>
    Promise.all(
      STREAM_SERVICES.map(async (service) => (await jsm.streams.info(streamNames(namespace, service).stream)).state),
    ).then((states) => states.map((state) => state.last_seq).join(","));
  let consumers: ConsumerState[] = [];
  let quietSince: string | undefined;
  for (;;) {
    try {
      const before = await ends();
      consumers = await durableConsumers(jsm, namespace);
      const idle = consumers.every((c) => c.pending === 0 && c.ackPending === 0);
      // Quiet twice in a row, 1 s apart, with the streams where they were.
      if (idle && quietSince === before && (await ends()) === before) {
        return { consumers, quiet: true, waitedMs: Date.now() - started };
      }
      quietSince = idle ? before : undefined;
    } catch {
      // The broker is still coming back: ask again.
      quietSince = undefined;
    }
    if (Date.now() - started > timeoutMs) return { consumers, quiet: false, waitedMs: Date.now() - started };
    await sleep(1_000);
  }
}

export interface Audit {
  readonly games: number;
  readonly lost: string[];
  readonly duplicated: string[];
  /** Counts of what was checked, for the report. */
  readonly checked: Record<string, number>;
}

function tally<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/**
 * Checks the three logs against what the players were told and against each other: every game the
 * matchmaker opened was started, resolved and settled exactly once; every acknowledged outcome is
 * the one resolution of its game; every admission a resolution decided, every genesis member and
 * every credit award is recorded exactly once by identity; every admitted member is registered
 * exactly once as a sponsor by the matchmaker. What is missing is lost, what is there twice is
 * duplicated.
 */
export async function auditLogs(
  nc: NatsConnection,
  namespace: string,
  played: readonly Played[],
  genesis: readonly Member[],
  poison: readonly { readonly stream: string; readonly seq: number }[] = [],
): Promise<Audit> {
  const [identity, matchmaker, adjudicator] = await Promise.all(
    STREAM_SERVICES.map((service) => {
      const stream = streamNames(namespace, service).stream;
      return readStream(nc, stream, new Set(poison.filter((p) => p.stream === stream).map((p) => p.seq)));
    }),
  );
  const lost: string[] = [];
  const duplicated: string[] = [];
  const once = (counts: Map<string, number>, key: string, what: string) => {
    const n = counts.get(key) ?? 0;
    if (n === 0) lost.push(`${what}: missing`);
    if (n > 1) duplicated.push(`${what}: ${n} times`);
  };

  const opened = new Map<string, number>();
  const settled = new Map<string, number>();
  const registered = new Map<string, number>();
  for (const { envelope } of matchmaker!) {
    const event = envelope.event;
    if (event?.$case === "gameOpened") tally(opened, event.value.gameId);
    if (event?.$case === "stakesSettled") tally(settled, event.value.gameId);
    if (event?.$case === "sponsorRegistered") tally(registered, event.value.memberId);
  }
  const started = new Map<string, number>();
  const resolved = new Map<string, number>();
  const resolutions = new Map<string, Extract<Envelope["event"], { $case: "gameResolved" }>["value"]>();
  for (const { envelope } of adjudicator!) {
    const event = envelope.event;
    if (event?.$case === "gameStarted") tally(started, event.value.gameId);
    if (event?.$case === "gameResolved") {
      tally(resolved, event.value.gameId);
      resolutions.set(event.value.gameId, event.value);
    }
  }
  const admitted = new Map<string, number>();
  const credited = new Map<string, number>();
  for (const { envelope } of identity!) {
    const event = envelope.event;
    if (event?.$case === "memberAdmitted") tally(admitted, event.value.memberId);
    if (event?.$case === "creditsGranted") tally(credited, `${event.value.memberId}/${event.value.gameId}`);
  }

  // What the players were told.
  for (const game of played) {
    if (game.failure !== undefined) lost.push(`game ${game.proposalId}: could not be played: ${game.failure}`);
    if (game.gameId === undefined) continue;
    if (!opened.has(game.gameId)) lost.push(`game ${game.gameId}: acknowledged as opened, not on the matchmaker's log`);
    if (game.outcome === undefined) continue;
    const resolution = resolutions.get(game.gameId);
    if (resolution === undefined) lost.push(`game ${game.gameId}: outcome acknowledged, no resolution on the log`);
    else if (resolution.outcome !== game.outcome) {
      lost.push(
        `game ${game.gameId}: acknowledged ${Outcome[game.outcome]}, resolved ${Outcome[resolution.outcome]} on the log`,
      );
    }
  }
  // The logs against each other.
  for (const gameId of opened.keys()) {
    once(opened, gameId, `GameOpened ${gameId}`);
    once(started, gameId, `GameStarted ${gameId}`);
    once(resolved, gameId, `GameResolved ${gameId}`);
    once(settled, gameId, `StakesSettled ${gameId}`);
  }
  for (const gameId of [...started.keys(), ...resolved.keys(), ...settled.keys()]) {
    if (!opened.has(gameId)) duplicated.push(`game ${gameId} on the logs was never opened`);
  }
  let admissions = 0;
  let credits = 0;
  for (const resolution of resolutions.values()) {
    const consent =
      resolution.action?.action?.$case === "admission" ? resolution.action.action.value.consent : undefined;
    if (resolution.admitted && consent) {
      admissions++;
      once(admitted, memberIdOf(consent.candidatePublicKey), `admission of the candidate of ${resolution.gameId}`);
    }
    for (const award of resolution.credits) {
      credits++;
      once(credited, `${award.memberId}/${resolution.gameId}`, `credits of ${award.memberId} for ${resolution.gameId}`);
    }
  }
  for (const member of genesis) once(admitted, member.id, `genesis admission of ${member.id}`);
  for (const memberId of admitted.keys()) once(registered, memberId, `sponsor registration of ${memberId}`);
  if (admitted.size !== genesis.length + admissions) {
    duplicated.push(
      `${admitted.size} members admitted, ${genesis.length} genesis + ${admissions} by games were decided`,
    );
  }
  if (credited.size !== credits) duplicated.push(`${credited.size} credit grants for ${credits} awards`);
  return {
    games: opened.size,
    lost,
    duplicated,
    checked: {
      "acknowledged outcomes": played.filter((game) => game.outcome !== undefined).length,
      "games opened": opened.size,
      "games resolved": resolved.size,
      admissions,
      "credit awards": credits,
      events: identity!.length + matchmaker!.length + adjudicator!.length,
    },
  };
}
