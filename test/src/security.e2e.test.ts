import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { randomUUID } from "node:crypto";
import {
  AdmissionKind,
  GameOpened,
  GameResolved,
  MemberAdmitted,
  Move,
  Outcome,
  PolicyPublished,
  SponsorExcluded,
  StakePeriodRetargeted,
} from "@pot/contracts";
import {
  deadLetterNames,
  decodeEnvelope,
  encodeEnvelope,
  envelopeHeaders,
  envelopeOf,
  natsInboxPrefix,
  readDeadLetters,
  streamNames,
  type EventBody,
} from "@pot/event-store";
import { repoRoot, type NatsRole, type ServiceName } from "@pot/devenv";
import { urlAsRole, verify } from "@pot/ops";
import pg from "pg";
import { eventually } from "./support/clients.js";
import {
  admissionOf,
  answerRequest,
  bootstrap,
  commitRequest,
  controlledConsent,
  newMember,
  playGame,
  proposeRequest,
  revealRequest,
  sealMove,
  TEST_NETWORK,
  type Member,
} from "./support/players.js";
import { SERVICES, startSystem, type System } from "./support/system.js";

/**
 * The denial matrix (issue #11, item 6; docs/security.md): the three services as processes on a
 * nats-server 2.9 of this test's own (a free loopback port, the network's users and permissions
 * from infra/nats/auth.conf's template) and real Postgres. Every NATS user of the network tries
 * what it must not be able to do; each attempt must be refused, nothing on any stream may change,
 * and the server must report the refusal. The matrix is printed at the end.
 */

type Verdict = "refused" | "allowed";
interface Row {
  readonly who: string;
  readonly attempt: string;
  readonly expected: Verdict;
  readonly verdict: Verdict;
  readonly how: string;
}

describe("security: the denial matrix against real servers", { timeout: 180_000 }, () => {
  let system: System;
  const rows: Row[] = [];
  const connections: NatsConnection[] = [];

  async function as(role: NatsRole): Promise<NatsConnection> {
    const user = system.natsUsers![role];
    const nc = await connect({
      servers: system.natsUrl,
      user: user.user,
      pass: user.password,
      inboxPrefix: natsInboxPrefix(system.namespace, role),
      timeout: 5_000,
    });
    connections.push(nc);
    return nc;
  }

  /** Runs `attempt`; records whether the server refused it (an error) or let it through. */
  async function attempt(
    who: string,
    what: string,
    action: () => Promise<unknown>,
    expected: Verdict = "refused",
  ): Promise<Row> {
    let row: Row;
    try {
      await action();
      row = { who, attempt: what, expected, verdict: "allowed", how: "the server accepted it" };
    } catch (error) {
      row = { who, attempt: what, expected, verdict: "refused", how: oneLine((error as Error).message) };
    }
    rows.push(row);
    return row;
  }

  /** Last sequence and message count of every stream of the network, read as the admin. */
  async function streamStates(): Promise<Record<string, [number, number]>> {
    const jsm = await jetstreamManager(system.nc);
    const out: Record<string, [number, number]> = {};
    for (const service of SERVICES) {
      const { state } = await jsm.streams.info(streamNames(system.namespace, service).stream);
      out[service] = [state.last_seq, state.messages];
    }
    return out;
  }

  const genesis = Array.from({ length: 7 }, () => newMember());

  before(async () => {
    system = await startSystem({ secureNats: true, pgRoles: true });
    await bootstrap(system.clients, genesis);
    await eventually("the default policy", async () =>
      (await system.clients.adjudicator.getPolicy({ version: 0 })).policy?.version === 1 ? true : undefined,
    );
  });

  after(async () => {
    for (const nc of connections) await nc.close().catch(() => undefined);
    if (rows.length > 0) {
      const width = Math.max(...rows.map((row) => row.who.length));
      const what = Math.max(...rows.map((row) => row.attempt.length));
      console.log(
        ["", "Denial matrix (nats-server 2.9.10, PostgreSQL, test/src/security.e2e.test.ts):"]
          .concat(
            rows.map(
              (row) =>
                `${row.who.padEnd(width)}  ${row.attempt.padEnd(what)}  ${row.verdict.padEnd(7)}` +
                `${row.verdict === row.expected ? "" : "  <-- WRONG"}  (${row.how})`,
            ),
          )
          .join("\n"),
      );
    }
    const codes = await system?.stop();
    assert.deepEqual(codes, [0, 0, 0]);
  });

  test("every service's NATS user: publish to another service's stream, purge, delete messages, update or delete a stream -> refused", async () => {
    const before = await streamStates();
    for (const service of SERVICES) {
      const nc = await as(service);
      const js = jetstream(nc);
      const jsm = await jetstreamManager(nc);
      for (const other of SERVICES.filter((s) => s !== service)) {
        const names = streamNames(system.namespace, other);
        const row = await attempt(service, `publish to ${other}'s stream`, () =>
          js.publish(`${names.prefix}.member.forged`, new Uint8Array([1]), { timeout: 3_000 }),
        );
        assert.equal(row.verdict, "refused", `${service} published to ${other}'s stream`);
      }
      for (const target of SERVICES) {
        const stream = streamNames(system.namespace, target).stream;
        const whose = target === service ? "its own" : `${target}'s`;
        for (const [label, action] of [
          [`purge ${whose} stream`, () => jsm.streams.purge(stream)],
          [`delete a message of ${whose} stream`, () => jsm.streams.deleteMessage(stream, 1)],
          [`delete ${whose} stream`, () => jsm.streams.delete(stream)],
          [`shrink ${whose} stream (update max_msgs=1)`, () => shrink(nc, stream)],
        ] as const) {
          const row = await attempt(service, label, action);
          assert.equal(row.verdict, "refused", `${service}: ${label}`);
        }
      }
    }
    assert.deepEqual(await streamStates(), before, "no stream changed");
  });

  test("the read-only user reads every stream but cannot publish, purge, delete, or pull from a service's durable consumer", async () => {
    const before = await streamStates();
    const nc = await as("reader");
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    for (const service of SERVICES) {
      const names = streamNames(system.namespace, service);
      // It can read: an ordered consumer from the start delivers the stream's first event.
      const consumer = await js.consumers.get(names.stream, { deliver_policy: DeliverPolicy.All });
      const first = await consumer.next({ expires: 5_000 });
      assert.equal(first?.seq, 1, `the reader reads ${names.stream}`);
      for (const [label, action] of [
        [
          `publish to ${service}'s stream`,
          () => js.publish(`${names.prefix}.member.forged`, new Uint8Array([1]), { timeout: 3_000 }),
        ],
        [`purge ${service}'s stream`, () => jsm.streams.purge(names.stream)],
        [`delete a message of ${service}'s stream`, () => jsm.streams.deleteMessage(names.stream, 1)],
        [`delete ${service}'s stream`, () => jsm.streams.delete(names.stream)],
      ] as const) {
        const row = await attempt("reader", label, action);
        assert.equal(row.verdict, "refused", `reader: ${label}`);
      }
    }
    // Pulling from (and so acknowledging away) a service's reaction consumer would make it miss events.
    const durable = `${system.namespace}_identity_react_adjudicator`;
    const row = await attempt("reader", "pull from identity's reaction consumer", async () => {
      const stolen = await js.consumers.get(streamNames(system.namespace, "adjudicator").stream, durable);
      await stolen.next({ expires: 2_000 });
    });
    assert.equal(row.verdict, "refused");
    assert.deepEqual(await streamStates(), before, "no stream changed");
  });

  test("dead letters: each service writes only its own; nobody purges or deletes them; the reader only reads", async () => {
    const jsm = await jetstreamManager(system.nc);
    const states = async () =>
      Object.fromEntries(
        await Promise.all(
          SERVICES.map(async (service) => {
            const { state } = await jsm.streams.info(deadLetterNames(system.namespace, service).stream);
            return [service, [state.last_seq, state.messages]] as const;
          }),
        ),
      );
    const before = await states();
    for (const service of SERVICES) {
      const nc = await as(service);
      const js = jetstream(nc);
      const own = await jetstreamManager(nc);
      for (const other of SERVICES.filter((s) => s !== service)) {
        const row = await attempt(service, `write a dead letter into ${other}'s dead-letter stream`, () =>
          js.publish(`${deadLetterNames(system.namespace, other).letters}.forged`, new Uint8Array([1]), {
            timeout: 3_000,
          }),
        );
        assert.equal(row.verdict, "refused", `${service} wrote ${other}'s dead letters`);
      }
      const stream = deadLetterNames(system.namespace, service).stream;
      for (const [label, action] of [
        ["purge its own dead-letter stream", () => own.streams.purge(stream)],
        ["delete a message of its own dead-letter stream", () => own.streams.deleteMessage(stream, 1)],
        ["delete its own dead-letter stream", () => own.streams.delete(stream)],
      ] as const) {
        const row = await attempt(service, label, action);
        assert.equal(row.verdict, "refused", `${service}: ${label}`);
      }
    }
    const reader = await as("reader");
    const readerJsm = await jetstreamManager(reader);
    for (const service of SERVICES) {
      const names = deadLetterNames(system.namespace, service);
      assert.equal((await readerJsm.streams.info(names.stream)).config.name, names.stream, "the reader reads it");
      for (const [label, action] of [
        [
          `write a dead letter into ${service}'s dead-letter stream`,
          () => jetstream(reader).publish(`${names.letters}.forged`, new Uint8Array([1]), { timeout: 3_000 }),
        ],
        [
          `record a retry in ${service}'s dead-letter stream`,
          () => jetstream(reader).publish(`${names.retried}.1`, new Uint8Array(0), { timeout: 3_000 }),
        ],
        [`purge ${service}'s dead-letter stream`, () => readerJsm.streams.purge(names.stream)],
      ] as const) {
        const row = await attempt("reader", label, action);
        assert.equal(row.verdict, "refused", `reader: ${label}`);
      }
      const row = await attempt("admin", `purge ${service}'s dead-letter stream`, () =>
        jsm.streams.purge(names.stream),
      );
      assert.equal(row.verdict, "refused", "the dead-letter streams deny purge, as the event streams do");
    }
    assert.deepEqual(await states(), before, "no dead-letter stream changed");
  });

  test("the admin: the streams themselves deny purge and message deletion; deleting a whole stream is the admin's", async () => {
    const jsm = await jetstreamManager(system.nc);
    for (const service of SERVICES) {
      const stream = streamNames(system.namespace, service).stream;
      const { config } = await jsm.streams.info(stream);
      assert.equal(config.deny_purge, true, `${stream} denies purge`);
      assert.equal(config.deny_delete, true, `${stream} denies message deletion`);
      for (const [label, action] of [
        [`purge ${service}'s stream`, () => jsm.streams.purge(stream)],
        [`delete a message of ${service}'s stream`, () => jsm.streams.deleteMessage(stream, 1)],
        [
          `turn deny_purge off on ${service}'s stream`,
          () => jsm.streams.update(stream, { ...config, deny_purge: false }),
        ],
      ] as const) {
        const row = await attempt("admin", label, action);
        assert.equal(row.verdict, "refused", `admin: ${label}`);
      }
    }
    // A scratch stream of this namespace with the same settings: the admin deletes it whole (tests' cleanup).
    const scratch = `${system.namespace.toUpperCase()}_SCRATCH`;
    await jsm.streams.add({
      name: scratch,
      subjects: [`${system.namespace}.scratch.>`],
      deny_purge: true,
      deny_delete: true,
    });
    const row = await attempt(
      "admin",
      "delete a whole stream (deny_purge, deny_delete)",
      () => jsm.streams.delete(scratch),
      "allowed",
    );
    assert.equal(row.verdict, "allowed", "stream deletion is not message deletion");
  });

  test("Postgres: a service's role writes only its own schema; the query role only reads", async () => {
    const roles = system.pgRoles!;
    const counts = async (): Promise<Record<string, number>> => {
      const out: Record<string, number> = {};
      await withPg(system.databaseUrl, async (client) => {
        for (const service of SERVICES) {
          const { rows } = await client.query<{ n: string }>(
            `select count(*) as n from "${roles[service].schema}".${CHECKPOINT}`,
          );
          out[service] = Number(rows[0]!.n);
        }
      });
      return out;
    };
    const before = await counts();
    for (const service of SERVICES) {
      const own = roles[service];
      await withPg(urlAsRole(system.databaseUrl, own.owner), async (client) => {
        for (const other of SERVICES.filter((s) => s !== service)) {
          const theirs = roles[other].schema;
          for (const [label, statement] of [
            [`write ${other}'s read model`, `insert into "${theirs}".${CHECKPOINT} (name, seq) values ('forged', 1)`],
            [`read ${other}'s read model`, `select * from "${theirs}".${CHECKPOINT}`],
            [`drop ${other}'s schema`, `drop schema "${theirs}" cascade`],
          ] as const) {
            const row = await attempt(`pg ${service}`, label, () => client.query(statement));
            assert.equal(row.verdict, "refused", `${service}: ${label}`);
          }
        }
        const row = await attempt(`pg ${service}`, "create a schema of its own", () =>
          client.query(`create schema "${own.schema}_x"`),
        );
        assert.equal(row.verdict, "refused");
      });
      await withPg(urlAsRole(system.databaseUrl, own.reader), async (client) => {
        const read = await attempt(
          `pg ${service} query`,
          "read its service's read model",
          () => client.query(`select * from "${own.schema}".${CHECKPOINT}`),
          "allowed",
        );
        assert.equal(read.verdict, "allowed");
        for (const [label, statement] of [
          [
            "write its service's read model",
            `insert into "${own.schema}".${CHECKPOINT} (name, seq) values ('forged', 1)`,
          ],
          ["move a checkpoint", `update "${own.schema}".${CHECKPOINT} set seq = 0`],
          ["delete from its service's read model", `delete from "${own.schema}".${CHECKPOINT}`],
          ["create a table", `create table "${own.schema}".forged (x int)`],
        ] as const) {
          const row = await attempt(`pg ${service} query`, label, () => client.query(statement));
          assert.equal(row.verdict, "refused", `${service} query role: ${label}`);
        }
      });
    }
    assert.deepEqual(await counts(), before, "no read model changed");
  });

  /** A forged event of `service`'s stream as its owner would append it: envelope, headers, subject. */
  function forged(service: ServiceName, aggregate: string, id: string, event: EventBody) {
    const subject = `${streamNames(system.namespace, service).prefix}.${aggregate}.${id}`;
    const eventId = randomUUID();
    const envelope = envelopeOf({
      event,
      subject,
      eventId,
      causationId: eventId,
      correlationId: eventId,
      occurredAt: new Date(),
    });
    return { subject, data: encodeEnvelope(envelope), headers: envelopeHeaders(envelope) };
  }

  test("forged events of each kind on each stream, by every NATS user but the stream's owner -> refused, nothing changed", async () => {
    const [a, b] = genesis as [Member, Member];
    const candidate = newMember();
    const sponsor = (m: Member) => ({ memberId: m.id, publicKey: m.keys.publicKey });
    const policy = (await system.clients.adjudicator.getPolicy({ version: 0 })).policy!;
    const gameId = randomUUID();
    const forgeries: { kind: string; event: ReturnType<typeof forged> }[] = [
      {
        kind: "forged GameResolved minting credits",
        event: forged("adjudicator", "game", gameId, {
          $case: "gameResolved",
          value: GameResolved.fromPartial({
            gameId,
            outcome: Outcome.OUTCOME_A_DEFECTED,
            sponsorA: sponsor(a),
            sponsorB: sponsor(b),
            policyVersion: policy.version,
            resolvedAtMs: BigInt(Date.now()),
            credits: [{ memberId: a.id, count: 100, expiresAtMs: BigInt(Date.now() + 365 * 86_400_000) }],
          }),
        }),
      },
      {
        kind: "fully forged game admitting a candidate",
        event: forged("adjudicator", "game", gameId, {
          $case: "gameResolved",
          value: GameResolved.fromPartial({
            gameId,
            outcome: Outcome.OUTCOME_BOTH_COOPERATED,
            sponsorA: sponsor(a),
            sponsorB: sponsor(b),
            policyVersion: policy.version,
            resolvedAtMs: BigInt(Date.now()),
            admitted: true,
            action: {
              action: { $case: "admission", value: { consent: { candidatePublicKey: candidate.keys.publicKey } } },
            },
          }),
        }),
      },
      {
        kind: "forged policy (next version)",
        event: forged("adjudicator", "policy", "network", {
          $case: "policyPublished",
          value: PolicyPublished.fromPartial({ policy: { ...policy, version: policy.version + 1 } }),
        }),
      },
      {
        kind: "forged admission",
        event: forged("identity", "member", candidate.id, {
          $case: "memberAdmitted",
          value: MemberAdmitted.fromPartial({
            memberId: candidate.id,
            publicKey: candidate.keys.publicKey,
            kind: AdmissionKind.ADMISSION_KIND_SPONSORED,
            sponsorIds: [a.id, b.id],
            gameId,
            admittedAtMs: BigInt(Date.now()),
          }),
        }),
      },
      {
        kind: "forged GameOpened locking stakes",
        event: forged("matchmaker", "ledger", "ledger", {
          $case: "gameOpened",
          value: GameOpened.fromPartial({
            gameId,
            sponsorA: sponsor(a),
            sponsorB: sponsor(b),
            policyVersion: policy.version,
          }),
        }),
      },
    ];
    const before = await streamStates();
    const creditsBefore = (
      await system.clients.identity.getMember({ memberId: a.id, minSequence: 0n, consistencyToken: "" })
    ).member?.credits;
    for (const role of [...SERVICES, "reader"] as const) {
      const nc = await as(role);
      const js = jetstream(nc);
      for (const { kind, event } of forgeries) {
        const owner = event.subject.split(".")[1];
        if (owner === role) continue; // the owner's own credential: see docs/security.md (trusted)
        const row = await attempt(role, `${kind} on ${owner}'s stream`, () =>
          js.publish(event.subject, event.data, { headers: event.headers, timeout: 3_000 }),
        );
        assert.equal(row.verdict, "refused", `${role}: ${kind}`);
      }
    }
    assert.deepEqual(await streamStates(), before, "no stream changed");
    // Nothing was acted on: no member, no credits, the policy unchanged.
    const after = await system.clients.identity.getMember({ memberId: a.id, minSequence: 0n, consistencyToken: "" });
    assert.equal(after.member?.credits, creditsBefore);
    await assert.rejects(
      system.clients.identity.getMember({ memberId: candidate.id, minSequence: 0n, consistencyToken: "" }),
    );
    assert.equal((await system.clients.adjudicator.getPolicy({ version: 0 })).policy?.version, policy.version);
  });

  /** Waits until `durable` on `service`'s stream has acknowledged everything up to `seq`. */
  async function consumed(service: ServiceName, durable: string, seq: number): Promise<void> {
    const jsm = await jetstreamManager(system.nc);
    const stream = streamNames(system.namespace, service).stream;
    await eventually(`${durable} past seq ${seq}`, async () =>
      (await jsm.consumers.info(stream, `${system.namespace}_${durable}`)).ack_floor.stream_seq >= seq
        ? true
        : undefined,
    );
  }

  /** A forged event published with its producer's own credential, and what its consumers must not have done. */
  interface Forgery {
    readonly owner: ServiceName;
    readonly kind: string;
    readonly event: ReturnType<typeof forged>;
    /** The reaction consumers that must refuse it: the stream they read, their durable, their service. */
    readonly consumers: readonly { stream: ServiceName; durable: string; service: ServiceName }[];
    /** Asserts that the consumers changed nothing. */
    readonly unchanged: () => Promise<void>;
    /** What each consumer's dead letter must give as the reason, when the row is about one check. */
    readonly reason?: RegExp;
  }

  /**
   * Publishes each forgery with its owner's credential, waits until its consumers are past it, checks
   * nothing changed; then that each consumer logged and dead-lettered it as forged and that pot verify
   * reports it at its sequence. One row each.
   */
  async function refusedByConsumers(forgeries: readonly Forgery[]): Promise<void> {
    const stored = new Map<string, number>();
    for (const { owner, kind, event, consumers, unchanged } of forgeries) {
      const nc = await as(owner);
      const ack = await jetstream(nc).publish(event.subject, event.data, { headers: event.headers, timeout: 3_000 });
      stored.set(kind, ack.seq);
      for (const consumer of consumers) await consumed(consumer.stream, consumer.durable, ack.seq);
      // Nothing was acted on: no credits, no member, no game, no suspension of a bystander.
      await unchanged();
    }
    const reader = system.natsUsers!.reader;
    const audit = await verify({
      natsUrl: system.natsUrl,
      natsCredentials: { user: reader.user, password: reader.password },
      namespace: system.namespace,
      networkId: TEST_NETWORK,
    });
    const letters = new Map<ServiceName, Awaited<ReturnType<typeof readDeadLetters>>>();
    for (const service of SERVICES) {
      letters.set(service, await readDeadLetters(system.nc, deadLetterNames(system.namespace, service)));
    }
    for (const { owner, kind, consumers, reason } of forgeries) {
      const seq = stored.get(kind)!;
      // Each consumer logged it and dead-lettered it as forged.
      const refusals = consumers.map(({ service }) => {
        const lines = system.services.get(service)!.logs().split("\n");
        const logged = lines.some((line) => line.includes("forged event refused") && line.includes(`"seq":${seq},`));
        const dead = letters
          .get(service)!
          .some(
            (letter) =>
              letter.kind === "forged" &&
              (reason === undefined || reason.test(letter.reason)) &&
              letter.originalSeq === seq &&
              letter.stream === streamNames(system.namespace, owner).stream,
          );
        return logged && dead ? service : undefined;
      });
      // The cross-check's findings (the carried signatures re-verified) first, then the decider's.
      const found = audit.mismatches
        .filter((m) => (m.stream ?? "adjudicator") === owner && m.seq === seq)
        .sort((x, y) => Number(y.stream !== undefined) - Number(x.stream !== undefined));
      const row = {
        who: owner,
        attempt: `${kind}, with its own credential`,
        expected: "refused" as const,
        verdict:
          refusals.every((r) => r !== undefined) && found.length > 0 ? ("refused" as const) : ("allowed" as const),
        how:
          `stored at seq ${seq}; refused and dead-lettered by ${refusals.filter(Boolean).join(", ") || "none"}; ` +
          `pot verify: ${oneLine(found[0]?.problem ?? "no finding")}`,
      };
      rows.push(row);
      assert.equal(row.verdict, "refused", `${kind}: ${row.how}`);
    }
  }

  test("with the stream owner's own (stolen) credential forged events are stored, and every consumer refuses them: nothing changed, reported", async () => {
    const [a, b, c] = genesis as [Member, Member, Member];
    const candidate = newMember();
    const gameId = randomUUID();
    const policy = (await system.clients.adjudicator.getPolicy({ version: 0 })).policy!;
    const sponsor = (m: Member) => ({ memberId: m.id, publicKey: m.keys.publicKey });
    const credits = async () =>
      (await system.clients.identity.getMember({ memberId: a.id, minSequence: 0n, consistencyToken: "" })).member
        ?.credits ?? 0;
    const stake = async (m: Member) =>
      (await system.clients.matchmaker.getStake({ memberId: m.id, minSequence: 0n, consistencyToken: "" })).stake;
    const creditsBefore = await credits();
    const stakeBefore = await stake(c);
    const admission = {
      action: {
        $case: "admission" as const,
        value: {
          consent: {
            candidatePublicKey: candidate.keys.publicKey,
            agreementVersion: 1,
            agreementHash: new Uint8Array(32),
            signature: new Uint8Array(64).fill(1),
            proposalId: gameId,
            controllerId: "",
            expiresAtMs: BigInt(Date.now() + 86_400_000),
          },
        },
      },
    };
    // Each forgery: the owner's credential, the consumers that must refuse it, and what must not change.
    const forgeries: Forgery[] = [
      {
        owner: "adjudicator",
        kind: "forged GameResolved minting credits",
        event: forged("adjudicator", "game", gameId, {
          $case: "gameResolved",
          value: GameResolved.fromPartial({
            gameId,
            outcome: Outcome.OUTCOME_A_DEFECTED,
            sponsorA: sponsor(a),
            sponsorB: sponsor(b),
            moveA: Move.MOVE_DEFECT,
            moveB: Move.MOVE_COOPERATE,
            policyVersion: policy.version,
            resolvedAtMs: BigInt(Date.now()),
            credits: [{ memberId: a.id, count: 100, expiresAtMs: BigInt(Date.now() + 365 * 86_400_000) }],
            suspensions: [{ memberId: c.id, untilMs: BigInt(Date.now() + 365 * 86_400_000) }],
            action: admission,
          }),
        }),
        consumers: [
          { stream: "adjudicator", durable: "identity_react_adjudicator", service: "identity" },
          { stream: "adjudicator", durable: "matchmaker_react_adjudicator", service: "matchmaker" },
        ],
        unchanged: async () => {
          assert.equal(await credits(), creditsBefore, "identity granted no credits");
          await assert.rejects(
            system.clients.identity.getMember({ memberId: candidate.id, minSequence: 0n, consistencyToken: "" }),
            "identity admitted no one",
          );
          assert.deepEqual(await stake(c), stakeBefore, "the matchmaker suspended no one");
        },
      },
      {
        owner: "adjudicator",
        kind: "fully forged game admitting a candidate",
        event: forged("adjudicator", "game", gameId, {
          $case: "gameResolved",
          value: GameResolved.fromPartial({
            gameId,
            outcome: Outcome.OUTCOME_BOTH_COOPERATED,
            sponsorA: sponsor(a),
            sponsorB: sponsor(b),
            moveA: Move.MOVE_COOPERATE,
            moveB: Move.MOVE_COOPERATE,
            policyVersion: policy.version,
            resolvedAtMs: BigInt(Date.now()),
            admitted: true,
            action: admission,
            opening: { proposalSignature: new Uint8Array(64).fill(2), acceptSignature: new Uint8Array(64).fill(3) },
          }),
        }),
        consumers: [
          { stream: "adjudicator", durable: "identity_react_adjudicator", service: "identity" },
          { stream: "adjudicator", durable: "matchmaker_react_adjudicator", service: "matchmaker" },
        ],
        unchanged: async () => {
          assert.equal(await credits(), creditsBefore, "identity granted no credits");
          await assert.rejects(
            system.clients.identity.getMember({ memberId: candidate.id, minSequence: 0n, consistencyToken: "" }),
            "identity admitted no one",
          );
          assert.deepEqual(await stake(c), stakeBefore, "the matchmaker suspended no one");
        },
      },
      {
        owner: "matchmaker",
        kind: "forged GameOpened starting a game",
        event: forged("matchmaker", "ledger", "ledger", {
          $case: "gameOpened",
          value: GameOpened.fromPartial({
            gameId,
            sponsorA: sponsor(a),
            sponsorB: sponsor(b),
            action: admission,
            policyVersion: policy.version,
            openedAtMs: BigInt(Date.now()),
          }),
        }),
        consumers: [{ stream: "matchmaker", durable: "adjudicator_react_matchmaker", service: "adjudicator" }],
        unchanged: async () => {
          await assert.rejects(
            system.clients.adjudicator.getGame({ gameId, minSequence: 0n, consistencyToken: "" }),
            "the adjudicator started no game",
          );
        },
      },
      {
        owner: "identity",
        kind: "forged sponsored admission",
        event: forged("identity", "member", candidate.id, {
          $case: "memberAdmitted",
          value: MemberAdmitted.fromPartial({
            memberId: candidate.id,
            publicKey: candidate.keys.publicKey,
            kind: AdmissionKind.ADMISSION_KIND_SPONSORED,
            sponsorIds: [a.id, b.id],
            gameId,
            consent: admission.action.value.consent,
            admittedAtMs: BigInt(Date.now()),
            opening: { proposalSignature: new Uint8Array(64), acceptSignature: new Uint8Array(64) },
          }),
        }),
        consumers: [{ stream: "identity", durable: "matchmaker_react_identity", service: "matchmaker" }],
        // Identity's own read model shows the member (a service trusts its own stream); the matchmaker does not.
        unchanged: async () => {
          await assert.rejects(stake(candidate), "the matchmaker registered no one");
        },
      },
    ];
    await refusedByConsumers(forgeries);
  });

  test("with the producer's own credential, forged events made of real signatures (replayed, or the sponsors' own) are refused by every consumer, nothing changed, reported", async () => {
    // a and b are taken: the forged GameOpened above is on the matchmaker's own stream, which it believes.
    const [, , c, a, b, d, e] = genesis as [Member, Member, Member, Member, Member, Member, Member];
    const query = { minSequence: 0n, consistencyToken: "" };
    // A real game (a and b admit a candidate, both cooperate) whose signatures a forger may copy.
    const admitted = newMember();
    const { gameId: played } = await playGame(system.clients, a, b, admissionOf(admitted), ["cooperate", "cooperate"]);
    await eventually("the candidate admitted", () =>
      system.clients.identity.getMember({ memberId: admitted.id, ...query }),
    );
    // A game d and e opened and are playing: its opening signatures are the sponsors' own.
    const proposal = proposeRequest(d, e, admissionOf(newMember()));
    await system.clients.matchmaker.propose(proposal);
    const accept = answerRequest("accept", e, proposal.proposalId);
    await system.clients.matchmaker.accept(accept);
    const open = proposal.proposalId;
    await eventually("the game started", () => system.clients.adjudicator.getGame({ gameId: open, ...query }));
    const jsm = await jetstreamManager(system.nc);
    const adjudicator = streamNames(system.namespace, "adjudicator");
    const stored = await jsm.streams.getMessage(adjudicator.stream, {
      last_by_subj: `${adjudicator.prefix}.game.${played}`,
    });
    assert.ok(stored, "the real game's last event");
    const real = decodeEnvelope(stored.data);
    assert.ok(real.event?.$case === "gameResolved" && real.event.value.admitted, "the real resolution");
    const resolution = real.event.value;
    const credits = async () =>
      (await system.clients.identity.getMember({ memberId: a.id, ...query })).member?.credits ?? 0;
    const creditsBefore = await credits();
    const stakeOf = async (m: Member) => (await system.clients.matchmaker.getStake({ memberId: m.id, ...query })).stake;
    const stakeBefore = await stakeOf(d);
    const policy = (await system.clients.adjudicator.getPolicy({ version: 0 })).policy!;
    const controlled = newMember();
    const stakeBeforeE = await stakeOf(e);
    const resolvedAt = Date.now();
    // d and e sign their own moves for their open game, without playing them: a thief of the
    // adjudicator's credential resolves it with amounts (suspension ends) the policy does not give.
    const signedMove = (m: Member, move: "defect" | "cooperate") => {
      const sealed = sealMove(move);
      const commit = commitRequest(m, open, sealed);
      const reveal = revealRequest(m, open, sealed);
      return {
        commitment: commit.commitment,
        commitSignature: commit.signature,
        move: reveal.move,
        nonce: reveal.nonce,
        revealSignature: reveal.signature,
      };
    };
    const adjudicatorConsumers = [
      { stream: "adjudicator" as const, durable: "identity_react_adjudicator", service: "identity" as const },
      { stream: "adjudicator" as const, durable: "matchmaker_react_adjudicator", service: "matchmaker" as const },
    ];
    const stillOpen = async () => {
      assert.deepEqual(await stakeOf(d), stakeBefore, "d's stake is still locked by its game");
      const game = (await system.clients.adjudicator.getGame({ gameId: open, ...query })).game;
      assert.equal(game?.outcome, Outcome.OUTCOME_UNSPECIFIED, "the open game is not resolved");
    };
    await refusedByConsumers([
      {
        owner: "adjudicator",
        kind: "a real game's signatures replayed to claim credits",
        event: forged("adjudicator", "game", played, {
          $case: "gameResolved",
          value: {
            ...resolution,
            outcome: Outcome.OUTCOME_A_DEFECTED,
            moveA: Move.MOVE_DEFECT,
            admitted: false,
            credits: [
              { memberId: a.id, count: 100, expiresAtMs: BigInt(Date.now() + 86_400_000), cap: 0, capWindowMs: 0n },
            ],
          },
        }),
        consumers: adjudicatorConsumers,
        unchanged: async () => assert.equal(await credits(), creditsBefore, "identity granted no credits"),
      },
      {
        owner: "matchmaker",
        kind: "SponsorExcluded cancelling another pair's game",
        event: forged("matchmaker", "ledger", "ledger", {
          $case: "sponsorExcluded",
          value: SponsorExcluded.fromPartial({ memberId: c.id, cancelledProposalIds: [open] }),
        }),
        consumers: [{ stream: "matchmaker", durable: "adjudicator_react_matchmaker", service: "adjudicator" }],
        unchanged: stillOpen,
      },
      {
        owner: "adjudicator",
        kind: "cancellation releasing an open game's stakes (sponsors' own signatures)",
        event: forged("adjudicator", "game", open, {
          $case: "gameResolved",
          value: GameResolved.fromPartial({
            gameId: open,
            outcome: Outcome.OUTCOME_CANCELLED,
            sponsorA: { memberId: d.id, publicKey: d.keys.publicKey },
            sponsorB: { memberId: e.id, publicKey: e.keys.publicKey },
            action: proposal.action,
            policyVersion: policy.version,
            resolvedAtMs: BigInt(Date.now()),
            opening: { proposalSignature: proposal.signature, acceptSignature: accept.signature },
          }),
        }),
        // Identity has nothing to do for a cancellation; the matchmaker must not release the stakes.
        consumers: [adjudicatorConsumers[1]!],
        // The adjudicator's own read model shows the game cancelled (it believes its own stream).
        unchanged: async () => assert.deepEqual(await stakeOf(d), stakeBefore, "d's stake is still locked by its game"),
      },
      {
        owner: "adjudicator",
        kind: "an open game resolved on its sponsors' own signed moves with 100-year suspensions",
        event: forged("adjudicator", "game", open, {
          $case: "gameResolved",
          value: GameResolved.fromPartial({
            gameId: open,
            outcome: Outcome.OUTCOME_BOTH_DEFECTED,
            moveA: Move.MOVE_DEFECT,
            moveB: Move.MOVE_DEFECT,
            sponsorA: { memberId: d.id, publicKey: d.keys.publicKey },
            sponsorB: { memberId: e.id, publicKey: e.keys.publicKey },
            action: proposal.action,
            policyVersion: policy.version,
            resolvedAtMs: BigInt(resolvedAt),
            opening: { proposalSignature: proposal.signature, acceptSignature: accept.signature },
            signedMoveA: signedMove(d, "defect"),
            signedMoveB: signedMove(e, "defect"),
            // The signatures justify suspending both; the policy's penalty period is not 100 years.
            suspensions: [d, e].map((m) => ({ memberId: m.id, untilMs: BigInt(resolvedAt + 100 * 365 * 86_400_000) })),
          }),
        }),
        // Identity has nothing to do for a game that admits no one and awards no credits.
        consumers: [adjudicatorConsumers[1]!],
        reason: /suspension of .* suspended until \d+ is not what the policy gives the outcome/,
        unchanged: async () => {
          assert.deepEqual(await stakeOf(d), stakeBefore, "d's stake is still locked by its game, d not suspended");
          assert.deepEqual(await stakeOf(e), stakeBeforeE, "e's stake is still locked by its game, e not suspended");
        },
      },
      {
        owner: "identity",
        kind: "controlled admission without a redemption",
        event: forged("identity", "member", controlled.id, {
          $case: "memberAdmitted",
          value: MemberAdmitted.fromPartial({
            memberId: controlled.id,
            publicKey: controlled.keys.publicKey,
            kind: AdmissionKind.ADMISSION_KIND_CONTROLLED,
            controllerId: a.id,
            consent: controlledConsent(controlled, a),
            admittedAtMs: BigInt(Date.now()),
            redeemSignature: new Uint8Array(64).fill(9),
            redeemRequestId: randomUUID(),
          }),
        }),
        consumers: [{ stream: "identity", durable: "matchmaker_react_identity", service: "matchmaker" }],
        unchanged: async () => {
          await assert.rejects(stakeOf(controlled), "the matchmaker registered no one");
        },
      },
      {
        owner: "adjudicator",
        kind: "StakePeriodRetargeted to a 1 ms stake period",
        event: forged("adjudicator", "policy", "network", {
          $case: "stakePeriodRetargeted",
          value: StakePeriodRetargeted.fromPartial({
            policyVersion: policy.version,
            interval: 1_000_000n,
            oldStakePeriodMs: policy.admission?.stakePeriodMs ?? 0n,
            newStakePeriodMs: 1n,
          }),
        }),
        consumers: [{ stream: "adjudicator", durable: "matchmaker_react_adjudicator", service: "matchmaker" }],
        unchanged: async () => undefined,
      },
    ]);
  });

  test("the server reported every refused publish (its log names the user and the subject)", () => {
    const log = system.secureNats!.log();
    for (const service of SERVICES) {
      assert.match(
        log,
        new RegExp(`Publish Violation - User "${system.namespace}-${service}"`),
        `${service} refusals logged`,
      );
    }
    assert.match(log, new RegExp(`Publish Violation - User "${system.namespace}-reader"`));
  });
});

/** A raw $JS.API.STREAM.UPDATE that keeps one message (the client's update() would first need STREAM.INFO). */
async function shrink(nc: NatsConnection, stream: string): Promise<void> {
  const reply = await nc.request(
    `$JS.API.STREAM.UPDATE.${stream}`,
    JSON.stringify({
      name: stream,
      subjects: [`${stream.split("_")[0]!.toLowerCase()}.${stream.split("_")[1]!.toLowerCase()}.>`],
      max_msgs: 1,
    }),
    { timeout: 3_000 },
  );
  const body = reply.json<{ error?: { description: string } }>();
  if (body.error) throw new Error(body.error.description);
}

test("infra/nats/auth.conf (users) and accounts.conf (accounts, production) are valid for this nats-server", () => {
  const dir = mkdtempSync(join(tmpdir(), "pot-nats-conf-"));
  try {
    for (const name of ["auth.conf", "accounts.conf"]) {
      copyFileSync(join(repoRoot(), "infra", "nats", name), join(dir, name));
      writeFileSync(
        join(dir, "server.conf"),
        `port: 4222\njetstream { store_dir: ${JSON.stringify(dir)} }\ninclude ./${name}\n`,
      );
      const env: Record<string, string | undefined> = { ...process.env, POT_NATS_SYS_PASSWORD: "s" };
      for (const role of ["identity", "matchmaker", "adjudicator", "reader", "admin"])
        env[`POT_NATS_${role.toUpperCase()}_PASSWORD`] = role;
      const run = spawnSync("/usr/sbin/nats-server", ["-c", join(dir, "server.conf"), "-t"], { env, encoding: "utf8" });
      assert.equal(run.status, 0, `${name}: ${run.stderr}`);
      assert.match(`${run.stdout}${run.stderr}`, /is valid/, name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const CHECKPOINT = "projection_checkpoints";

async function withPg<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

function oneLine(text: string): string {
  const line = text.split("\n")[0] ?? text;
  return line.length > 90 ? `${line.slice(0, 87)}...` : line;
}
