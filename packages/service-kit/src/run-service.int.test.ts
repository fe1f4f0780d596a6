import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { checkHealth } from "./test-fixtures/clients.js";

const fixture = fileURLToPath(new URL("./test-fixtures/lifecycle-service.js", import.meta.url));

interface LogLine {
  level: string;
  msg: string;
  service: string;
  [field: string]: unknown;
}

/** Runs the fixture service; `lines` collects its stdout JSON, `waitFor` resolves on a message. */
function startFixture(env: Record<string, string>) {
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, LOG_LEVEL: "info", GRPC_INSECURE: "true", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: LogLine[] = [];
  const waiters: { msg: string; resolve: (line: LogLine) => void }[] = [];
  createInterface({ input: child.stdout }).on("line", (text) => {
    const line = JSON.parse(text) as LogLine;
    lines.push(line);
    for (const waiter of waiters.filter((w) => w.msg === line.msg)) waiter.resolve(line);
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = once(child, "exit").then(([code, signal]) => ({ code: code as number | null, signal, stderr }));
  const waitFor = (msg: string) =>
    new Promise<LogLine>((resolve) => {
      const seen = lines.find((line) => line.msg === msg);
      if (seen) resolve(seen);
      else waiters.push({ msg, resolve });
    });
  return { child, lines, exited, waitFor };
}

describe("runService", () => {
  it("logs ready with the bound address, closes on SIGTERM and exits 0 by itself", async () => {
    const service = startFixture({ GRPC_ADDRESS: "127.0.0.1:0" });
    const ready = await service.waitFor("ready");
    assert.equal(ready.service, "lifecycle-fixture");
    assert.match(String(ready["address"]), /^127\.0\.0\.1:[1-9]\d*$/);
    assert.equal(await checkHealth(String(ready["address"]), ""), "SERVING");

    service.child.kill("SIGTERM");
    const { code, signal, stderr } = await service.exited;
    assert.deepEqual({ code, signal, stderr }, { code: 0, signal: null, stderr: "" });
    const messages = service.lines.map((line) => line.msg);
    assert.deepEqual(messages.slice(messages.indexOf("ready")), [
      "ready",
      "shutting down",
      "gRPC server stopped",
      "closed",
      "stopped",
    ]);
  });

  it("exits at once on a second signal while closing", async () => {
    const service = startFixture({ GRPC_ADDRESS: "127.0.0.1:0", FIXTURE_CLOSE_DELAY_MS: "10000" });
    await service.waitFor("ready");
    service.child.kill("SIGINT");
    await service.waitFor("shutting down");
    service.child.kill("SIGINT");
    const { code } = await service.exited;
    assert.equal(code, 130);
    assert.ok(!service.lines.some((line) => line.msg === "closed"));
  });

  it("prints one sentence and exits 78 on a bad GRPC_ADDRESS", async () => {
    const service = startFixture({ GRPC_ADDRESS: "abc" });
    const { code, stderr } = await service.exited;
    assert.equal(code, 78);
    assert.equal(stderr, 'GRPC_ADDRESS "abc" is not a host:port address\n');
    assert.deepEqual(service.lines, []);
  });

  it("runs a service with its own config reader, reporting the port it returns", async () => {
    const service = startFixture({ FIXTURE_FORM: "own-config" });
    const ready = await service.waitFor("ready");
    assert.match(String(ready["address"]), /^127\.0\.0\.1:[1-9]\d*$/);
    service.child.kill("SIGTERM");
    const { code } = await service.exited;
    assert.equal(code, 0);
    assert.ok(service.lines.some((line) => line.msg === "closed"));
  });

  it("exits 78 with the sentence of the service's own config error", async () => {
    const service = startFixture({ FIXTURE_FORM: "own-config", FIXTURE_CLOSE_DELAY_MS: "later" });
    const { code, stderr } = await service.exited;
    assert.equal(code, 78);
    assert.equal(stderr, 'FIXTURE_CLOSE_DELAY_MS "later" is not a whole number between 0 and 60000\n');
  });

  it("logs the failure and exits 1 when the service cannot start", async () => {
    const blocker = createServer();
    blocker.listen(0, "127.0.0.1");
    await once(blocker, "listening");
    const { port } = blocker.address() as { port: number };
    try {
      const service = startFixture({ GRPC_ADDRESS: `127.0.0.1:${port}` });
      const { code } = await service.exited;
      assert.equal(code, 1);
      const failure = service.lines.find((line) => line.msg === "failed to start");
      assert.ok(failure, "no 'failed to start' line");
    } finally {
      blocker.close();
    }
  });
});
