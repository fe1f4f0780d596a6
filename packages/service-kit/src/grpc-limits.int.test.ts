import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { GRPC_LIMIT_DEFAULTS } from "./config.js";
import { grpcServerOptions } from "./grpc-limits.js";
import { callEcho, createEchoClient, EchoServiceDefinition, type EchoClient } from "./test-fixtures/echo-service.js";

const SLOW_MS = 300;

/** The server options from GRPC_* enforced by a real grpc-js server over a socket. */
describe("gRPC server limits", () => {
  let server: grpc.Server;
  let client: EchoClient;

  before(async () => {
    server = new grpc.Server(
      grpcServerOptions({ ...GRPC_LIMIT_DEFAULTS, maxReceiveBytes: 16 * 1024, maxConcurrentStreams: 1 }),
    );
    server.addService(EchoServiceDefinition, {
      echo: (
        call: grpc.ServerUnaryCall<{ text: string }, { text: string }>,
        callback: grpc.sendUnaryData<{ text: string }>,
      ) => {
        const delay = call.request.text === "slow" ? SLOW_MS : 0;
        setTimeout(() => callback(null, { text: call.request.text.slice(0, 10) }), delay);
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    client = createEchoClient(`127.0.0.1:${port}`);
  });

  after(() => {
    client?.close();
    server?.forceShutdown();
  });

  it("refuses a request over GRPC_MAX_RECEIVE_BYTES with RESOURCE_EXHAUSTED, and the connection keeps serving", async () => {
    const { error } = await callEcho(client, { text: "x".repeat(20 * 1024) }, { deadline: Date.now() + 5_000 });
    assert.equal(error?.code, grpc.status.RESOURCE_EXHAUSTED);
    const { response } = await callEcho(client, { text: "small" }, { deadline: Date.now() + 5_000 });
    assert.equal(response?.text, "small");
  });

  it("runs at most GRPC_MAX_CONCURRENT_STREAMS calls of one connection at once", async () => {
    const started = performance.now();
    const results = await Promise.all(
      [0, 1, 2].map(() => callEcho(client, { text: "slow" }, { deadline: Date.now() + 10_000 })),
    );
    const ms = performance.now() - started;
    for (const { response, error } of results) assert.equal(response?.text, "slow", error?.message);
    // One stream at a time: three slow calls take three times as long, not one.
    assert.ok(ms >= 3 * SLOW_MS - 30, `three calls took ${Math.round(ms)} ms`);
  });
});
