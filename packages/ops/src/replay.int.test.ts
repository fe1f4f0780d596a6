import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  createTestDatabase,
  deleteNamespace,
  ensureServers,
  uniqueNamespace,
  type Servers,
  type TestDatabase,
} from "@pot/devenv";
import { DeadLetters, EventStore, durableName, envelopeOf, streamNames, type Logger } from "@pot/event-store";
import { memberEventToWire, readModels } from "@pot/identity";
import { memberIdOf } from "@pot/mechanism";
import {
  openDatabase,
  readCheckpoint,
  readModelSchema,
  startProjection,
  type Database,
  type ProjectionRunner,
} from "@pot/projections";
import type { Kysely } from "kysely";
import { digestTables } from "./digest.js";
import { replay } from "./replay.js";

/**
 * A replay swapped in under a live runner that is behind it: the runner's next batch finds the
 * rebuilt checkpoint instead of the one it expected (StaleCheckpointError), restarts its durable
 * consumer after that checkpoint, and goes on; its tables end up as a rebuild of the whole stream.
 */
describe("replay under a live projection runner", () => {
  let servers: Servers;
  let database: TestDatabase;
  let nc: NatsConnection;
  let store: EventStore;
  let live: Database<unknown>;
  let runner: ProjectionRunner | undefined;
  const namespace = uniqueNamespace("r");
  const warnings: { object: object; message: string }[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (object, message) => void warnings.push({ object, message }),
    error: (object, message) => void warnings.push({ object, message }),
  };

  /** Appends `n` admissions of new members to the identity stream; returns the last sequence. */
  async function admit(n: number): Promise<number> {
    let seq = 0;
    for (let i = 0; i < n; i++) {
      const publicKey = new Uint8Array(randomBytes(32));
      const memberId = memberIdOf(publicKey);
      const subject = store.subject("member", memberId);
      const eventId = `${subject}/${randomUUID()}`;
      const envelope = envelopeOf({
        event: memberEventToWire({
          type: "MemberAdmitted",
          memberId,
          publicKey,
          kind: "genesis",
          sponsorIds: [],
          controllerId: "",
          gameId: "",
          consent: undefined,
          displayName: `m${i}`,
          admittedAt: Date.UTC(2036, 0, 1) + i * 3_600_000,
        }),
        subject,
        eventId,
        causationId: eventId,
        correlationId: eventId,
        occurredAt: new Date(0),
      });
      seq = (await store.append(subject, envelope, { expectedLastSubjectSequence: 0, msgId: eventId })).seq;
    }
    return seq;
  }

  before(async () => {
    servers = await ensureServers();
    database = await createTestDatabase(servers.databaseUrl);
    nc = await connect({ servers: servers.natsUrl });
    store = await EventStore.open(nc, streamNames(namespace, "identity"), { storage: "memory" });
    live = await openDatabase<unknown>({
      url: database.url,
      schema: readModelSchema(namespace, readModels),
      migrations: readModels.migrations,
    });
  });

  after(async () => {
    await runner?.stop();
    await live?.close();
    await nc?.close();
    await deleteNamespace(servers.natsUrl, namespace);
    await database?.drop();
    await servers?.stop();
  });

  test("the runner behind the rebuilt checkpoint restarts from it and goes on", async () => {
    // The runner's transactions wait while `gate.paused` is set, before they take any lock.
    const gate: { paused?: Promise<void>; resume(): void } = { resume() {} };
    const db = live.db as Kysely<unknown>;
    const gated = new Proxy(db, {
      get(target, property) {
        if (property !== "transaction") {
          // Kysely's methods read private fields: call them on the instance itself.
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === "function" ? value.bind(target) : value;
        }
        return () => {
          const builder = target.transaction();
          return {
            execute: async <T>(work: Parameters<typeof builder.execute<T>>[0]) => {
              await gate.paused;
              return builder.execute(work);
            },
          };
        };
      },
    });
    const projection = readModels.projections[0]!.projection as Parameters<
      typeof startProjection<unknown>
    >[0]["projection"];
    runner = await startProjection<unknown>({
      db: gated,
      store,
      sourceStream: store.names.stream,
      durable: durableName(namespace, "identity", projection.name, "identity"),
      projection,
      deadLetters: await DeadLetters.open(nc, namespace, "identity", { storage: "memory" }),
      logger,
      leaderLock: false,
    });
    const first = await admit(20);
    assert.ok(await runner.waitFor(first, 10_000));

    gate.paused = new Promise<void>((resolve) => (gate.resume = resolve));
    const second = await admit(15);
    const result = await replay({
      natsUrl: servers.natsUrl,
      databaseUrl: database.url,
      namespace,
      service: "identity",
    });
    assert.equal(result.events, second);
    assert.equal(runner.position(), first, "the live runner was held back during the replay");
    assert.equal(await readCheckpoint(db, projection.name), second, "the swapped-in checkpoint");

    gate.resume();
    const third = await admit(5);
    assert.ok(await runner.waitFor(third, 15_000), `the runner went on (at ${runner.position()})`);
    assert.ok(
      warnings.some(({ object }) => (object as { err?: Error }).err?.name === "StaleCheckpointError"),
      "the runner's batch was refused by the rebuilt checkpoint",
    );
    const afterwards = await digestTables({
      databaseUrl: database.url,
      schema: readModelSchema(namespace, readModels),
      tables: [...readModels.tables],
    });
    const rebuilt = await replay({
      natsUrl: servers.natsUrl,
      databaseUrl: database.url,
      namespace,
      service: "identity",
    });
    assert.deepEqual(rebuilt.tables, afterwards, "nothing lost or applied twice across the swap");
    assert.equal(afterwards.find((t) => t.table === "members")?.rows, 40);
  });
});
