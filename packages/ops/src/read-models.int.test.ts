import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { gameEventToWire, type GameEvent } from "@pot/adjudicator";
import { createTestDatabase, ensureServers, type Servers, type TestDatabase } from "@pot/devenv";
import { envelopeOf, type EventBody, type StoredEvent } from "@pot/event-store";
import { memberEventToWire, type MemberEvent } from "@pot/identity";
import { ledgerEventToWire, type LedgerEvent } from "@pot/matchmaker";
import { DEFAULT_POLICY, type ActionSpec, NO_OPENING } from "@pot/mechanism";
import { applyBatch, openDatabase, type Database } from "@pot/projections";
import { sql } from "kysely";
import { digestWith } from "./digest.js";
import { READ_MODELS } from "./read-models.js";
import type { ServiceName } from "./types.js";

const HOUR = 3_600_000;

/** mulberry32: the same events on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const hex = (rng: () => number, bytes: number) =>
  Array.from({ length: bytes }, () =>
    Math.floor(rng() * 256)
      .toString(16)
      .padStart(2, "0"),
  ).join("");
const key = (id: string) => Uint8Array.from(Buffer.from(id, "hex"));
const uuid = (rng: () => number) => {
  const h = hex(rng, 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

/** Stream events from domain events, sequence numbers from 1. */
function stored(
  service: ServiceName,
  events: readonly { aggregate: string; id: string; body: EventBody; at: number }[],
) {
  return events.map(({ aggregate, id, body, at }, index): StoredEvent => {
    const subject = `t.${service}.${aggregate}.${id}`;
    return {
      seq: index + 1,
      subject,
      headers: undefined,
      envelope: envelopeOf({
        event: body,
        subject,
        eventId: `${subject}/${index}`,
        causationId: `c${index}`,
        correlationId: `c${index}`,
        occurredAt: new Date(at),
      }),
    };
  });
}

/** Genesis, sponsored and controlled admissions, credit grants and redemptions, exclusions, over several days. */
function identityStream(rng: () => number): StoredEvent[] {
  let t = Date.UTC(2034, 2, 1);
  const out: { aggregate: string; id: string; body: EventBody; at: number }[] = [];
  const members: string[] = [];
  const credits = new Map<string, number>();
  const emit = (event: MemberEvent) =>
    out.push({ aggregate: "member", id: event.memberId, body: memberEventToWire(event), at: t });
  const admit = (kind: "genesis" | "sponsored" | "controlled", sponsors: string[], controller: string) => {
    const id = hex(rng, 32);
    emit({
      type: "MemberAdmitted",
      memberId: id,
      publicKey: key(id),
      kind,
      sponsorIds: sponsors,
      controllerId: controller,
      gameId: kind === "sponsored" ? uuid(rng) : "",
      consent:
        kind === "genesis"
          ? undefined
          : {
              candidatePublicKey: key(id),
              agreementVersion: 1,
              agreementHash: new Uint8Array(32).fill(7),
              proposalId: "",
              controllerId: controller,
              expiresAtMs: t + HOUR,
              signature: new Uint8Array(64).fill(1),
            },
      displayName: kind === "genesis" ? `g${members.length}` : "",
      admittedAt: t,
    });
    members.push(id);
    return id;
  };
  const anyMember = () => members[Math.floor(rng() * members.length)]!;
  for (let i = 0; i < 6; i++) admit("genesis", [], "");
  for (let i = 0; i < 300; i++) {
    t += Math.floor(rng() * 3 * HOUR);
    const roll = rng();
    if (roll < 0.45) {
      const a = anyMember();
      let b = anyMember();
      while (b === a) b = anyMember();
      admit("sponsored", [a, b], "");
    } else if (roll < 0.65) {
      const member = anyMember();
      emit({ type: "CreditsGranted", memberId: member, gameId: uuid(rng), count: 2, expiresAtMs: t + 400 * 24 * HOUR });
      credits.set(member, (credits.get(member) ?? 0) + 2);
    } else if (roll < 0.85) {
      const member = [...credits].find(([, left]) => left > 0)?.[0];
      if (!member) continue;
      const admitted = hex(rng, 32);
      emit({
        type: "CreditRedeemed",
        memberId: member,
        admittedMemberId: admitted,
        consent: {
          candidatePublicKey: key(admitted),
          agreementVersion: 1,
          agreementHash: new Uint8Array(32),
          proposalId: "",
          controllerId: member,
          expiresAtMs: t + HOUR,
          signature: new Uint8Array(64),
        },
        redeemedAt: t,
      });
      credits.set(member, credits.get(member)! - 1);
      admit("controlled", [], member);
    } else {
      emit({ type: "MemberExcluded", memberId: anyMember(), reason: "test", sponsorIds: [], excludedAt: t });
    }
  }
  return stored("identity", out);
}

/** Registrations, proposals declined, cancelled and accepted, games settled (released or with suspensions), exclusions. */
function matchmakerStream(rng: () => number): StoredEvent[] {
  let t = Date.UTC(2034, 2, 1);
  const out: { aggregate: string; id: string; body: EventBody; at: number }[] = [];
  const emit = (event: LedgerEvent) =>
    out.push({ aggregate: "ledger", id: "ledger", body: ledgerEventToWire(event), at: t });
  const members: string[] = [];
  const pending: { id: string; a: string; b: string }[] = [];
  const open: { id: string; a: string; b: string }[] = [];
  const register = () => {
    const id = hex(rng, 32);
    emit({ type: "SponsorRegistered", memberId: id, publicKey: key(id) });
    members.push(id);
  };
  const action: ActionSpec = { type: "generic", kind: "post.create", payload: new Uint8Array([1]) };
  for (let i = 0; i < 8; i++) register();
  for (let i = 0; i < 400; i++) {
    t += Math.floor(rng() * HOUR);
    const roll = rng();
    const take = <T>(list: T[]) => list.splice(Math.floor(rng() * list.length), 1)[0];
    if (roll < 0.1) register();
    else if (roll < 0.4) {
      const a = members[Math.floor(rng() * members.length)]!;
      const b = members[Math.floor(rng() * members.length)]!;
      if (a === b) continue;
      const id = uuid(rng);
      emit({
        type: "ProposalMade",
        proposalId: id,
        proposerId: a,
        partnerId: b,
        action,
        madeAt: t,
        expiresAt: t + 72 * HOUR,
        signature: new Uint8Array(64),
      });
      pending.push({ id, a, b });
    } else if (roll < 0.5 && pending.length > 0) {
      const p = take(pending)!;
      emit(
        rng() < 0.5
          ? { type: "ProposalDeclined", proposalId: p.id, memberId: p.b }
          : { type: "ProposalCancelled", proposalId: p.id, memberId: p.a, reason: "withdrawn" },
      );
    } else if (roll < 0.75 && pending.length > 0) {
      const p = take(pending)!;
      emit({
        type: "GameOpened",
        gameId: p.id,
        sponsorA: { memberId: p.a, publicKey: key(p.a) },
        sponsorB: { memberId: p.b, publicKey: key(p.b) },
        action,
        policyVersion: 1,
        openedAt: t,
        stakeLockedUntil: t + 7 * 24 * HOUR,
        pairCooldownUntil: t + 180 * 24 * HOUR,
        opening: NO_OPENING,
      });
      open.push(p);
    } else if (roll < 0.95 && open.length > 0) {
      const g = take(open)!;
      const released = rng() < 0.2;
      emit({
        type: "StakesSettled",
        gameId: g.id,
        released,
        suspensions: released ? [] : rng() < 0.5 ? [{ memberId: g.a, untilMs: t + 30 * 24 * HOUR }] : [],
      });
    } else if (members.length > 4) {
      const member = take(members)!;
      const involved = (p: { a: string; b: string }) => p.a === member || p.b === member;
      const cancelled = [...pending, ...open].filter(involved).map((p) => p.id);
      for (const list of [pending, open]) for (const p of list.filter(involved)) list.splice(list.indexOf(p), 1);
      emit({
        type: "SponsorExcluded",
        memberId: member,
        accountableSponsorIds: [],
        cancelledProposalIds: cancelled,
        suspensions: [{ memberId: members[0]!, untilMs: t + 90 * 24 * HOUR }],
      });
    }
  }
  return stored("matchmaker", out);
}

/** Interleaved games, each started, committed, revealed and resolved with every outcome, no-shows and cancellations. */
function adjudicatorStream(rng: () => number): StoredEvent[] {
  let t = Date.UTC(2034, 2, 1);
  const out: { aggregate: string; id: string; body: EventBody; at: number }[] = [];
  const players = Array.from({ length: 10 }, () => hex(rng, 32));
  const live: { id: string; a: string; b: string; steps: GameEvent[] }[] = [];
  const outcomes = ["both-cooperated", "a-defected", "b-defected", "both-defected", "no-show", "cancelled"] as const;
  for (let started = 0; started < 70 || live.length > 0;) {
    t += Math.floor(rng() * HOUR);
    if (started < 70 && (live.length === 0 || rng() < 0.35)) {
      started++;
      const id = uuid(rng);
      const a = players[Math.floor(rng() * players.length)]!;
      let b = players[Math.floor(rng() * players.length)]!;
      while (b === a) b = players[Math.floor(rng() * players.length)]!;
      const outcome = outcomes[Math.floor(rng() * outcomes.length)]!;
      const sponsorA = { memberId: a, publicKey: key(a) };
      const sponsorB = { memberId: b, publicKey: key(b) };
      const action: ActionSpec = {
        type: "admission",
        candidatePublicKey: key(hex(rng, 32)),
        agreementVersion: 1,
        agreementHash: new Uint8Array(32),
        consentProposalId: id,
        consentControllerId: "",
        consentExpiresAtMs: t + HOUR,
        consentSignature: new Uint8Array(64),
      };
      const moveA = outcome === "a-defected" || outcome === "both-defected" ? "defect" : "cooperate";
      const moveB = outcome === "b-defected" || outcome === "both-defected" ? "defect" : "cooperate";
      const steps: GameEvent[] = [
        {
          type: "GameStarted",
          gameId: id,
          sponsorA,
          sponsorB,
          action,
          policy: DEFAULT_POLICY,
          openedAt: t,
          commitDeadline: t + 24 * HOUR,
          opening: NO_OPENING,
        },
      ];
      if (outcome !== "cancelled") {
        steps.push({
          type: "MoveCommitted",
          gameId: id,
          memberId: a,
          commitment: new Uint8Array(32),
          signature: new Uint8Array(64),
          at: t,
        });
      }
      if (outcome !== "cancelled" && outcome !== "no-show") {
        steps.push({
          type: "MoveCommitted",
          gameId: id,
          memberId: b,
          commitment: new Uint8Array(32),
          signature: new Uint8Array(64),
          at: t,
        });
        steps.push({
          type: "MoveRevealed",
          gameId: id,
          memberId: a,
          move: moveA,
          nonce: new Uint8Array(32),
          signature: new Uint8Array(64),
          at: t,
        });
        steps.push({
          type: "MoveRevealed",
          gameId: id,
          memberId: b,
          move: moveB,
          nonce: new Uint8Array(32),
          signature: new Uint8Array(64),
          at: t,
        });
      }
      const byMoves = outcome !== "cancelled" && outcome !== "no-show";
      steps.push({
        type: "GameResolved",
        gameId: id,
        sponsorA,
        sponsorB,
        action,
        policyVersion: 1,
        outcome,
        moveA: byMoves ? moveA : undefined,
        moveB: byMoves ? moveB : undefined,
        resolvedAt: t,
        admitted: outcome === "both-cooperated",
        granted: false,
        credits: outcome === "a-defected" ? [{ memberId: a, count: 2, expiresAtMs: t }] : [],
        suspensions:
          outcome === "both-defected"
            ? [
                { memberId: a, untilMs: t },
                { memberId: b, untilMs: t },
              ]
            : [],
        noShowIds: outcome === "no-show" ? [b] : [],
      });
      live.push({ id, a, b, steps });
    }
    const game = live[Math.floor(rng() * live.length)]!;
    const step = game.steps.shift()!;
    // Events carry the time they happen at, so that days and deadlines vary.
    const at = {
      ...step,
      ...("at" in step ? { at: t } : {}),
      ...(step.type === "GameResolved" ? { resolvedAt: t } : {}),
    } as GameEvent;
    out.push({ aggregate: "game", id: game.id, body: gameEventToWire(at), at: t });
    if (game.steps.length === 0) live.splice(live.indexOf(game), 1);
  }
  return stored("adjudicator", out);
}

const STREAMS: Record<ServiceName, (rng: () => number) => StoredEvent[]> = {
  identity: identityStream,
  matchmaker: matchmakerStream,
  adjudicator: adjudicatorStream,
};

/**
 * The set-based projections decide nothing from how events are batched: one batch, random batches,
 * and batches applied again (past the checkpoint, straight into the tables) all give the same rows.
 */
describe("read models, applied a batch at a time", () => {
  let servers: Servers;
  let database: TestDatabase;
  const opened: Database<unknown>[] = [];

  before(async () => {
    servers = await ensureServers();
    database = await createTestDatabase(servers.databaseUrl);
  });

  after(async () => {
    await Promise.allSettled(opened.map((db) => db.close()));
    await database?.drop();
    await servers?.stop();
  });

  async function schema(service: ServiceName, variant: string) {
    const models = READ_MODELS[service];
    const db = await openDatabase<unknown>({
      url: database.url,
      schema: `rm_${service}_${variant}`,
      migrations: models.migrations,
    });
    opened.push(db);
    return db;
  }

  async function digests(db: Database<unknown>, service: ServiceName) {
    const client = await db.pool.connect();
    try {
      return await digestWith(client, db.schema, READ_MODELS[service].tables);
    } finally {
      client.release();
    }
  }

  for (const service of ["identity", "matchmaker", "adjudicator"] as const) {
    test(`${service}: one batch, random batches and batches applied twice give the same rows`, async () => {
      const events = STREAMS[service](random(42));
      const { projection } = READ_MODELS[service].projections[0]!;
      const whole = await schema(service, "whole");
      await applyBatch(whole.db, projection, events);
      const expected = await digests(whole, service);
      assert.ok(
        expected.every((table) => table.rows > 0),
        JSON.stringify(expected),
      );

      const rng = random(7);
      const pieces = await schema(service, "pieces");
      for (let from = 0; from < events.length;) {
        const size = 1 + Math.floor(rng() * 40);
        await applyBatch(pieces.db, projection, events.slice(from, from + size));
        from += size;
      }
      assert.deepEqual(await digests(pieces, service), expected, "random batches");

      const again = await schema(service, "again");
      for (let from = 0; from < events.length; from += 25) {
        await applyBatch(again.db, projection, events.slice(from, from + 25));
        // Straight into the tables, past the checkpoint: a batch applied before, or a part of it.
        const start = Math.floor(rng() * (from + 1));
        const replayed = events.slice(start, from + 1 + Math.floor(rng() * 25));
        await again.db.transaction().execute((trx) =>
          projection.apply(
            trx,
            replayed.filter((e) => e.seq <= from + 25),
          ),
        );
      }
      assert.deepEqual(await digests(again, service), expected, "batches applied twice");
      const { rows } = await sql<{ seq: string }>`select seq from projection_checkpoints where name = 'views'`.execute(
        again.db,
      );
      assert.equal(Number(rows[0]?.seq), events.length);
    });
  }
});
