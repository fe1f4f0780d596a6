import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { portAnswers } from "./ports.js";
import { freePort, repoRoot, startServiceProcess, type ServiceName } from "./index.js";

// Stand-ins for services/<name>/dist/main.js: only the launcher's mechanics are tested here.
const FAKES: Record<ServiceName, string> = {
  // Listens on GRPC_ADDRESS, reports its environment, drains on SIGTERM.
  identity: `
    const net = require("node:net");
    const [host, port] = process.env.GRPC_ADDRESS.split(":");
    console.log("env", process.env.POT_NAMESPACE, process.env.NATS_URL, process.env.DATABASE_URL, process.env.EXTRA);
    const server = net.createServer((socket) => socket.end()).listen(Number(port), host);
    process.on("SIGTERM", () => { console.error("draining"); server.close(() => process.exit(0)); });
  `,
  // Dies while starting.
  matchmaker: `console.error("boom: cannot reach the broker"); process.exit(3);`,
  // Never opens its port.
  adjudicator: `setInterval(() => undefined, 1000);`,
};

describe("startServiceProcess", () => {
  const root = mkdtempSync(join(tmpdir(), "pot-launcher-"));
  for (const [name, source] of Object.entries(FAKES)) {
    mkdirSync(join(root, "services", name, "dist"), { recursive: true });
    writeFileSync(join(root, "services", name, "dist", "main.js"), source);
  }
  after(() => rmSync(root, { recursive: true, force: true }));
  // The fakes ignore the transport; "insecure" keeps the test free of certificates.
  const common = {
    natsUrl: "nats://127.0.0.1:1",
    databaseUrl: "postgres://postgres@127.0.0.1:1/x",
    root,
    tls: "insecure" as const,
  };

  test("starts the service with its environment, waits for its port, and stops it with SIGTERM", async () => {
    const service = await startServiceProcess({
      ...common,
      name: "identity",
      namespace: "tlauncher",
      env: { EXTRA: "x1" },
    });
    assert.equal(service.name, "identity");
    assert.match(service.grpcAddress, /^127\.0\.0\.1:\d+$/);
    const port = Number(service.grpcAddress.split(":")[1]);
    assert.ok(await portAnswers("127.0.0.1", port));
    assert.match(service.logs(), /env tlauncher nats:\/\/127\.0\.0\.1:1 postgres:\/\/postgres@127\.0\.0\.1:1\/x x1/);
    assert.equal(await service.stop(), 0);
    assert.match(service.logs(), /draining/);
    assert.equal(await portAnswers("127.0.0.1", port), false);
    assert.equal(await service.stop(), 0, "stop() is idempotent");
  });

  test("uses the port given, and refuses one already in use", async () => {
    const port = await freePort();
    const service = await startServiceProcess({ ...common, name: "identity", namespace: "t1", port });
    try {
      assert.equal(service.grpcAddress, `127.0.0.1:${port}`);
      await assert.rejects(
        startServiceProcess({ ...common, name: "identity", namespace: "t2", port }),
        /already in use/,
      );
    } finally {
      await service.stop("SIGKILL");
    }
  });

  test("rejects with the child's output when it exits before opening its port", async () => {
    await assert.rejects(startServiceProcess({ ...common, name: "matchmaker", namespace: "t3" }), (error: Error) => {
      assert.match(error.message, /matchmaker exited with code 3/);
      assert.match(error.message, /boom: cannot reach the broker/);
      return true;
    });
  });

  test("rejects, and kills the child, when the port does not open in time", async () => {
    await assert.rejects(
      startServiceProcess({ ...common, name: "adjudicator", namespace: "t4", startTimeoutMs: 500 }),
      /adjudicator did not start.*within 500 ms/,
    );
  });

  test("finds services under the repository root", () => {
    assert.match(repoRoot(), /.+/);
    assert.ok(!repoRoot().includes(`${join("packages", "devenv")}`));
  });
});
