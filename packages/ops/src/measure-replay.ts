// Measures replay on a synthetic stream: `node packages/ops/dist/measure-replay.js <service> [events]`.
// Fills a fresh namespace's stream with `events` (default 1,000,000) events shaped like a busy network's
// (each game's events as the service appends them), replays it into a fresh database, and prints the
// result, the peak RSS of this process and, for comparison, the rate of a raw pipeline on the same stream:
// ordered-consumer read without decoding, one row per event upserted in batches of 8000, one transaction
// in flight. Removes the namespace and the database afterwards.
import { spawnSync } from "node:child_process";
import { getHeapStatistics } from "node:v8";
import { randomBytes, randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { gameEventToWire } from "@pot/adjudicator";
import {
  createTestDatabase,
  DEFAULT_DATABASE_URL,
  DEFAULT_NATS_URL,
  deleteNamespace,
  uniqueNamespace,
} from "@pot/devenv";
import { encodeEnvelope, envelopeHeaders, envelopeOf, streamNames, EventStore, type EventBody } from "@pot/event-store";
import { memberEventToWire } from "@pot/identity";
import { ledgerEventToWire } from "@pot/matchmaker";
import { DEFAULT_POLICY, memberIdOf, type ActionSpec, NO_OPENING } from "@pot/mechanism";
import pg from "pg";
import { cappedNodeArgs, HEAP_CAPPED_ENV } from "./heap-cap.js";
import { replay } from "./replay.js";
import type { ServiceName } from "./types.js";

const DAY = 86_400_000;

interface Synthetic {
  readonly aggregate: string;
  readonly id: string;
  readonly body: EventBody;
}

function member() {
  const publicKey = new Uint8Array(randomBytes(32));
  return { memberId: memberIdOf(publicKey), publicKey };
}

function admission(candidate: Uint8Array, proposalId: string, expiresAtMs: number): ActionSpec {
  return {
    type: "admission",
    candidatePublicKey: candidate,
    agreementVersion: 1,
    agreementHash: new Uint8Array(32).fill(42),
    consentProposalId: proposalId,
    consentControllerId: "",
    consentExpiresAtMs: expiresAtMs,
    consentSignature: new Uint8Array(randomBytes(64)),
  };
}

/** Identity: each game admits its candidate, sponsored by the two previous ones; every fourth grants credits. */
function* identity(at: number): Generator<Synthetic> {
  const sponsors = [member(), member()];
  for (let game = 0; ; game++) {
    const candidate = member();
    const gameId = randomUUID();
    yield {
      aggregate: "member",
      id: candidate.memberId,
      body: memberEventToWire({
        type: "MemberAdmitted",
        memberId: candidate.memberId,
        publicKey: candidate.publicKey,
        kind: "sponsored",
        sponsorIds: sponsors.map((s) => s.memberId),
        controllerId: "",
        gameId,
        consent: {
          candidatePublicKey: candidate.publicKey,
          agreementVersion: 1,
          agreementHash: new Uint8Array(32).fill(42),
          proposalId: gameId,
          controllerId: "",
          expiresAtMs: at + game * 60_000 + 86_400_000,
          signature: new Uint8Array(randomBytes(64)),
        },
        displayName: "",
        admittedAt: at + game * 60_000,
      }),
    };
    if (game % 4 === 3) {
      yield {
        aggregate: "member",
        id: sponsors[0]!.memberId,
        body: memberEventToWire({
          type: "CreditsGranted",
          memberId: sponsors[0]!.memberId,
          gameId: randomUUID(),
          count: 2,
          expiresAtMs: at + 365 * DAY,
        }),
      };
    }
    sponsors.shift();
    sponsors.push(candidate);
  }
}

/** Matchmaker (one ledger subject): registration, proposal, opening and settlement of each game. */
function* matchmaker(at: number): Generator<Synthetic> {
  const ledger = (body: EventBody): Synthetic => ({ aggregate: "ledger", id: "ledger", body });
  const sponsors = [member(), member()];
  for (const sponsor of sponsors) yield ledger(ledgerEventToWire({ type: "SponsorRegistered", ...sponsor }));
  for (let game = 0; ; game++) {
    const t = at + game * 60_000;
    const [a, b] = sponsors as [ReturnType<typeof member>, ReturnType<typeof member>];
    const candidate = member();
    const gameId = randomUUID();
    const action = admission(candidate.publicKey, gameId, t + 86_400_000);
    yield ledger(
      ledgerEventToWire({
        type: "ProposalMade",
        proposalId: gameId,
        proposerId: a.memberId,
        partnerId: b.memberId,
        action,
        madeAt: t,
        expiresAt: t + DEFAULT_POLICY.proposalTtlMs,
        signature: new Uint8Array(randomBytes(64)),
      }),
    );
    yield ledger(
      ledgerEventToWire({
        type: "GameOpened",
        gameId,
        sponsorA: a,
        sponsorB: b,
        action,
        policyVersion: 1,
        openedAt: t,
        stakeLockedUntil: t + DEFAULT_POLICY.admission.stakePeriodMs,
        pairCooldownUntil: t + DEFAULT_POLICY.pairCooldownMs,
        opening: NO_OPENING,
      }),
    );
    yield ledger(ledgerEventToWire({ type: "StakesSettled", gameId, suspensions: [], released: false }));
    yield ledger(ledgerEventToWire({ type: "SponsorRegistered", ...candidate }));
    sponsors.shift();
    sponsors.push(candidate);
  }
}

/** Adjudicator: each game started, committed and revealed by both, and resolved. */
function* adjudicator(at: number): Generator<Synthetic> {
  for (let game = 0; ; game++) {
    const t = at + game * 60_000;
    const gameId = randomUUID();
    const [a, b] = [member(), member()];
    const action = admission(member().publicKey, gameId, t + 86_400_000);
    const moves = [
      ["cooperate", "cooperate", "both-cooperated"],
      ["defect", "cooperate", "a-defected"],
      ["cooperate", "defect", "b-defected"],
      ["defect", "defect", "both-defected"],
    ] as const;
    const [moveA, moveB, outcome] = moves[game % 4]!;
    const body = (event: Parameters<typeof gameEventToWire>[0]): Synthetic => ({
      aggregate: "game",
      id: gameId,
      body: gameEventToWire(event),
    });
    yield body({
      type: "GameStarted",
      gameId,
      sponsorA: a,
      sponsorB: b,
      action,
      policy: DEFAULT_POLICY,
      openedAt: t,
      commitDeadline: t + DEFAULT_POLICY.admission.commitWindowMs,
      opening: NO_OPENING,
    });
    for (const sponsor of [a, b]) {
      yield body({
        type: "MoveCommitted",
        gameId,
        memberId: sponsor.memberId,
        commitment: new Uint8Array(randomBytes(32)),
        signature: new Uint8Array(randomBytes(64)),
        at: t,
      });
    }
    for (const [sponsor, move] of [
      [a, moveA],
      [b, moveB],
    ] as const) {
      yield body({
        type: "MoveRevealed",
        gameId,
        memberId: sponsor.memberId,
        move,
        nonce: new Uint8Array(randomBytes(32)),
        signature: new Uint8Array(randomBytes(64)),
        at: t,
      });
    }
    yield body({
      type: "GameResolved",
      gameId,
      sponsorA: a,
      sponsorB: b,
      action,
      policyVersion: 1,
      outcome,
      moveA,
      moveB,
      resolvedAt: t,
      admitted: outcome === "both-cooperated",
      granted: false,
      credits: outcome === "a-defected" ? [{ memberId: a.memberId, count: 2, expiresAtMs: t + 365 * DAY }] : [],
      suspensions: outcome === "a-defected" ? [{ memberId: b.memberId, untilMs: t + 30 * DAY }] : [],
      noShowIds: [],
    });
  }
}

const GENERATORS: Record<ServiceName, (at: number) => Generator<Synthetic>> = { identity, matchmaker, adjudicator };

/** Publishes without acks (core NATS on the stream's subjects), flushing every 1000, until the stream holds them all. */
async function fill(nc: NatsConnection, jsm: JetStreamManager, service: ServiceName, namespace: string, count: number) {
  const names = streamNames(namespace, service);
  await EventStore.open(nc, names);
  const events = GENERATORS[service](Date.UTC(2035, 0, 1));
  for (let index = 0; index < count; index++) {
    const { aggregate, id, body } = events.next().value as Synthetic;
    const subject = `${names.prefix}.${aggregate}.${id}`;
    const eventId = `${subject}/synthetic-${index}`;
    const envelope = envelopeOf({
      event: body,
      subject,
      eventId,
      causationId: eventId,
      correlationId: id,
      occurredAt: new Date(),
    });
    nc.publish(subject, encodeEnvelope(envelope), { headers: envelopeHeaders(envelope) });
    if (index % 1_000 === 999) await nc.flush();
  }
  await nc.flush();
  while ((await jsm.streams.info(names.stream)).state.messages < count) await new Promise((r) => setTimeout(r, 50));
  return names.stream;
}

/** The comparison: read without decoding, one row per event upserted, batches of 8000, one transaction in flight. */
async function rawPipeline(nc: NatsConnection, databaseUrl: string, stream: string, last: number): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      "create table raw_pipeline (id text primary key, kind text not null, seq bigint not null, body bytea not null)",
    );
    const started = performance.now();
    const messages = await (await jetstream(nc).consumers.get(stream, {})).consume({ max_messages: 5_000 });
    let batch: { id: string; seq: number; body: Uint8Array }[] = [];
    let inFlight: Promise<unknown> | undefined;
    const write = async (rows: typeof batch) => {
      await client.query("begin");
      await client.query(
        `insert into raw_pipeline select * from unnest($1::text[], $2::text[], $3::bigint[], $4::bytea[])
         on conflict (id) do update set kind = excluded.kind, seq = excluded.seq, body = excluded.body`,
        [rows.map((r) => r.id), rows.map(() => "event"), rows.map((r) => r.seq), rows.map((r) => Buffer.from(r.body))],
      );
      await client.query("commit");
    };
    for await (const message of messages) {
      batch.push({ id: `${message.subject}/${message.seq}`, seq: message.seq, body: message.data });
      if (batch.length >= 8_000 || message.seq >= last) {
        await inFlight;
        inFlight = write(batch);
        batch = [];
      }
      if (message.seq >= last) break;
    }
    await inFlight;
    await messages.close();
    return Math.round(last / ((performance.now() - started) / 1_000));
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  const natsUrl = process.env.NATS_URL ?? DEFAULT_NATS_URL;
  const [first, ...rest] = process.argv.slice(2);
  // The replay measured as `pot replay` runs it: with its heap cap.
  const capped = cappedNodeArgs({
    execArgv: process.execArgv,
    script: fileURLToPath(import.meta.url),
    args: process.argv.slice(2),
    heapLimitBytes: getHeapStatistics().heap_size_limit,
    env: process.env,
  });
  if (capped !== undefined && first !== "--fill") {
    const child = spawnSync(process.execPath, capped, {
      stdio: "inherit",
      env: { ...process.env, [HEAP_CAPPED_ENV]: "1" },
    });
    process.exitCode = child.status ?? 1;
    return;
  }
  if (first === "--fill") {
    // The child that fills the stream, so that its memory does not count in the replay's peak RSS.
    const [service, count, namespace] = rest as [ServiceName, string, string];
    const nc = await connect({ servers: natsUrl });
    await fill(nc, await jetstreamManager(nc), service, namespace, Number(count));
    await nc.close();
    return;
  }
  const service = first as ServiceName;
  const count = Number(rest[0] ?? 1_000_000);
  if (!(service in GENERATORS) || !Number.isSafeInteger(count) || count < 1) {
    console.error("usage: node packages/ops/dist/measure-replay.js <identity|matchmaker|adjudicator> [events]");
    process.exitCode = 2;
    return;
  }
  const namespace = uniqueNamespace("measure");
  const database = await createTestDatabase(process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL);
  const nc = await connect({ servers: natsUrl });
  try {
    const filled = spawnSync(
      process.execPath,
      [fileURLToPath(import.meta.url), "--fill", service, String(count), namespace],
      {
        stdio: "inherit",
      },
    );
    if (filled.status !== 0) throw new Error(`filling the stream failed (exit ${filled.status})`);
    const result = await replay({ natsUrl, databaseUrl: database.url, namespace, service });
    const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    const raw = await rawPipeline(nc, database.url, streamNames(namespace, service).stream, count);
    console.log(
      JSON.stringify({
        service,
        events: result.events,
        seconds: Number(result.seconds.toFixed(2)),
        eventsPerSecond: result.eventsPerSecond,
        rawPipelineEventsPerSecond: raw,
        ratio: Number((result.eventsPerSecond / raw).toFixed(2)),
        peakRssMb,
        tables: result.tables.map((t) => `${t.table}: ${t.rows}`),
      }),
    );
  } finally {
    await nc.close();
    await deleteNamespace(natsUrl, namespace);
    await database.drop();
  }
}

await main();
