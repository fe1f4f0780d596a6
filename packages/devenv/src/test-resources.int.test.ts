import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { after, before, describe, test } from "node:test";
import { answers, probePostgres } from "./probes.js";
import {
  createTestDatabase,
  deleteNamespace,
  ensureServers,
  sealNetworkStreams,
  uniqueNamespace,
  type Servers,
} from "./index.js";

let servers: Servers;
before(async () => {
  servers = await ensureServers();
});
after(async () => {
  await servers?.stop();
});

describe("uniqueNamespace", () => {
  test("is a valid namespace made of the prefix and 10 hex characters, different each time", () => {
    const namespaces = new Set(Array.from({ length: 100 }, () => uniqueNamespace()));
    assert.equal(namespaces.size, 100);
    for (const namespace of namespaces) assert.match(namespace, /^t[0-9a-f]{10}$/);
    assert.match(uniqueNamespace("bench_"), /^bench_[0-9a-f]{10}$/);
    assert.throws(() => uniqueNamespace("Bad"), /invalid|must match|not/);
  });
});

describe("createTestDatabase", () => {
  test("creates an empty database, then drops it even while a client is connected", async () => {
    const database = await createTestDatabase(servers.databaseUrl);
    assert.match(database.name, /^pot_t_[0-9a-f]{12}$/);
    assert.equal(new URL(database.url).pathname, `/${database.name}`);
    await probePostgres(database.url);
    const pg = (await import("pg")).default;
    const lingering = new pg.Client({ connectionString: database.url });
    lingering.on("error", () => undefined);
    await lingering.connect();
    await database.drop();
    assert.equal(await answers(probePostgres(database.url)), false);
    await lingering.end().catch(() => undefined);
  });

  test("uses the prefix given", async () => {
    const database = await createTestDatabase(servers.databaseUrl, "identity_t");
    try {
      assert.match(database.name, /^identity_t_[0-9a-f]{12}$/);
    } finally {
      await database.drop();
    }
  });
});

describe("deleteNamespace", () => {
  test("deletes the streams of that namespace and no others", async () => {
    const mine = uniqueNamespace();
    const other = uniqueNamespace();
    const nc = await connect({ servers: servers.natsUrl });
    try {
      const jsm = await jetstreamManager(nc);
      const names = (namespace: string) => [
        `${namespace.toUpperCase()}_IDENTITY`,
        `${namespace.toUpperCase()}_MATCHMAKER`,
      ];
      for (const namespace of [mine, other]) {
        for (const [index, name] of names(namespace).entries()) {
          await jsm.streams.add({ name, subjects: [`${namespace}.s${index}.>`] });
        }
      }
      await deleteNamespace(servers.natsUrl, mine);
      const left: string[] = [];
      for await (const name of jsm.streams.names()) left.push(name);
      for (const name of names(mine)) assert.ok(!left.includes(name), `${name} should be gone`);
      for (const name of names(other)) assert.ok(left.includes(name), `${name} should remain`);
      await deleteNamespace(servers.natsUrl, other);
      await deleteNamespace(servers.natsUrl, other); // nothing left: a no-op
    } finally {
      await nc.close();
    }
  });
});

describe("sealNetworkStreams", () => {
  test("turns on deny_purge and deny_delete on a network's existing streams (npm start, as the admin), once", async () => {
    const namespace = uniqueNamespace();
    const nc = await connect({ servers: servers.natsUrl });
    try {
      const jsm = await jetstreamManager(nc);
      const name = `${namespace.toUpperCase()}_IDENTITY`;
      await jsm.streams.add({ name, subjects: [`${namespace}.identity.>`], deny_purge: false, deny_delete: false });
      assert.deepEqual(await sealNetworkStreams(servers.natsUrl, namespace), [name]);
      const { config } = await jsm.streams.info(name);
      assert.equal(config.deny_purge, true);
      assert.equal(config.deny_delete, true);
      await assert.rejects(jsm.streams.purge(name), /purge not permitted/);
      assert.deepEqual(await sealNetworkStreams(servers.natsUrl, namespace), [], "nothing left to seal");
    } finally {
      await nc.close();
      await deleteNamespace(servers.natsUrl, namespace);
    }
  });
});
