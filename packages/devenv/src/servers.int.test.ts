import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { portAnswers } from "./ports.js";
import { answers, probeNats, probePostgres } from "./probes.js";
import { createTestDatabase, ensureServers, freePort, type Servers } from "./index.js";

describe("ensureServers", () => {
  let servers: Servers;
  before(async () => {
    servers = await ensureServers();
  });
  after(async () => {
    await servers?.stop();
  });

  test("uses NATS_URL and DATABASE_URL when they are set", async () => {
    const found = await ensureServers({ env: { NATS_URL: servers.natsUrl, DATABASE_URL: servers.databaseUrl } });
    assert.equal(found.natsUrl, servers.natsUrl);
    assert.equal(found.databaseUrl, servers.databaseUrl);
    assert.deepEqual(found.started, []);
    await found.stop();
    assert.ok(await answers(probeNats(servers.natsUrl)), "stop() must leave servers it did not start alone");
  });

  test("throws naming NATS_URL and its address when NATS_URL does not answer", async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    await assert.rejects(
      ensureServers({ env: { NATS_URL: url, DATABASE_URL: servers.databaseUrl } }),
      (error: Error) => {
        assert.match(error.message, /NATS_URL/);
        assert.ok(error.message.includes(url), error.message);
        return true;
      },
    );
  });

  test("throws naming DATABASE_URL when DATABASE_URL does not answer, and says so loudly under CI", async () => {
    const url = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
    await assert.rejects(
      ensureServers({ env: { NATS_URL: servers.natsUrl, DATABASE_URL: url, CI: "true" } }),
      (error: Error) => {
        assert.match(error.message, /^CI: a required service is missing/);
        assert.match(error.message, /DATABASE_URL/);
        assert.ok(error.message.includes(url), error.message);
        return true;
      },
    );
  });

  test("says what to install when nothing answers and nothing can be started", async () => {
    await assert.rejects(
      ensureServers({
        env: {},
        defaults: {
          natsUrl: `nats://127.0.0.1:${await freePort()}`,
          databaseUrl: `postgres://postgres@127.0.0.1:${await freePort()}/postgres`,
        },
        fallbacks: { local: false, containers: false },
      }),
      (error: Error) => {
        assert.match(error.message, /apt-get install nats-server/);
        assert.match(error.message, /apt-get install postgresql/);
        assert.match(error.message, /set NATS_URL/);
        assert.match(error.message, /set DATABASE_URL/);
        return true;
      },
    );
  });
});

describe("ensureServers when nothing answers", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "pot-devenv-"));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test("starts nats-server and a PostgreSQL cluster from PATH, reuses the cluster, and stops them", async () => {
    const closed = {
      natsUrl: `nats://127.0.0.1:${await freePort()}`,
      databaseUrl: `postgres://postgres@127.0.0.1:${await freePort()}/postgres`,
    };
    const lines: string[] = [];
    const options = {
      env: {},
      defaults: closed,
      dataDir,
      fallbacks: { containers: false },
      log: (line: string) => lines.push(line),
    };

    const first = await ensureServers(options);
    try {
      assert.deepEqual([...first.started].sort(), ["nats-server (local)", "postgresql (local)"]);
      assert.notEqual(first.natsUrl, closed.natsUrl);
      assert.notEqual(first.databaseUrl, closed.databaseUrl);
      await probeNats(first.natsUrl);
      const database = await createTestDatabase(first.databaseUrl);
      await probePostgres(database.url);
      await database.drop();
      assert.ok(
        lines.some((line) => line.includes("initialised a PostgreSQL cluster")),
        lines.join("\n"),
      );
    } finally {
      await first.stop();
    }
    assert.equal(await portAnswers("127.0.0.1", Number(new URL(first.natsUrl).port)), false, "nats-server still up");
    assert.equal(await portAnswers("127.0.0.1", Number(new URL(first.databaseUrl).port)), false, "postgres still up");

    lines.length = 0;
    const second = await ensureServers(options);
    try {
      assert.equal(second.started.length, 2);
      assert.ok(!lines.some((line) => line.includes("initialised")), "the existing cluster must be reused");
      await probePostgres(second.databaseUrl);
    } finally {
      await second.stop();
    }
  });
});
