import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { AdjudicatorServiceService, IdentityServiceService, MatchmakerServiceService } from "@pot/contracts";
import { ValidationError } from "@pot/mechanism";
import { createGrpcServer, type GrpcServer } from "./grpc-server.js";
import type { Logger } from "./logger.js";
import { implement, type UnaryHandler } from "./unary.js";
import { checkHealth, reflect } from "./test-fixtures/clients.js";
import {
  callEcho,
  createEchoClient,
  ECHO_ACCESS,
  ECHO_SERVICE,
  EchoServiceDefinition,
  type EchoClient,
  type EchoRequest,
  type EchoResponse,
} from "./test-fixtures/echo-service.js";

interface LogLine {
  level: keyof Logger;
  object: object;
  message: string;
}

function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const record = (level: keyof Logger) => (object: object, message: string) => lines.push({ level, object, message });
  return { lines, debug: record("debug"), info: record("info"), warn: record("warn"), error: record("error") };
}

interface Harness {
  kit: GrpcServer;
  address: string;
  client: EchoClient;
  logger: ReturnType<typeof recordingLogger>;
  close(): Promise<void>;
}

/** A kit server on a free port serving Echo (with `echo` as its handler) and the three pot.v1 services, unimplemented. */
async function startHarness(echo: UnaryHandler<EchoRequest, EchoResponse>): Promise<Harness> {
  const logger = recordingLogger();
  const kit = createGrpcServer({
    logger,
    transport: { mode: "insecure" },
    access: ECHO_ACCESS,
    services: [
      {
        name: ECHO_SERVICE,
        definition: EchoServiceDefinition,
        implementation: implement(EchoServiceDefinition, { echo }, { logger }),
      },
      { name: "pot.v1.MatchmakerService", definition: MatchmakerServiceService, implementation: {} },
      { name: "pot.v1.AdjudicatorService", definition: AdjudicatorServiceService, implementation: {} },
      { definition: IdentityServiceService, implementation: {} },
    ],
  });
  const port = await kit.bind("127.0.0.1:0");
  const address = `127.0.0.1:${port}`;
  const client = createEchoClient(address);
  return {
    kit,
    address,
    client,
    logger,
    close: async () => {
      client.close();
      await kit.shutdown(1_000);
    },
  };
}

describe("createGrpcServer", () => {
  let harness: Harness;
  const signals = new Map<string, AbortSignal>();

  before(async () => {
    harness = await startHarness(async ({ text }, { signal }) => {
      signals.set(text, signal);
      if (text === "invalid") throw new ValidationError("text", "must not be 'invalid'");
      if (text === "boom") throw new Error("password=hunter2 at /srv/secret.js:1");
      if (text.startsWith("slow")) await sleep(2_000, undefined, { signal });
      return { text };
    });
  });

  after(() => harness.close());

  it("reports NOT_SERVING until markServing, then SERVING, overall and per service", async () => {
    for (const service of ["", ECHO_SERVICE, "pot.v1.IdentityService"]) {
      assert.equal(await checkHealth(harness.address, service), "NOT_SERVING", `before: ${service || "overall"}`);
    }
    harness.kit.markServing();
    for (const service of ["", ECHO_SERVICE, "pot.v1.IdentityService"]) {
      assert.equal(await checkHealth(harness.address, service), "SERVING", `after: ${service || "overall"}`);
    }
    await assert.rejects(checkHealth(harness.address, "pot.v1.Nope"), { code: grpc.status.NOT_FOUND });
  });

  it("lists the served pot.v1 services and health through reflection", async () => {
    const response = await reflect(harness.address, { list_services: "" });
    const names = response.list_services_response?.service.map((service) => service.name).sort();
    assert.deepEqual(names, [
      "grpc.health.v1.Health",
      "pot.v1.AdjudicatorService",
      "pot.v1.IdentityService",
      "pot.v1.MatchmakerService",
    ]);
  });

  it("serves the descriptors of a service and of the types it depends on", async () => {
    const response = await reflect(harness.address, { file_containing_symbol: "pot.v1.IdentityService" });
    const files = response.file_descriptor_response?.file_descriptor_proto ?? [];
    // protobufjs names descriptors after their package (pot_v1.proto), not after the source file.
    const text = files.map((file) => Buffer.from(file).toString("latin1")).join("\n");
    for (const expected of ["pot.v1", "IdentityService", "Bootstrap", "member_id", "google.protobuf", "Timestamp"]) {
      assert.ok(text.includes(expected), `reflection descriptors do not mention ${expected}`);
    }
  });

  it("answers a call", async () => {
    const { response, error } = await callEcho(harness.client, { text: "hello" });
    assert.equal(error, undefined);
    assert.deepEqual(response, { text: "hello" });
  });

  it("turns a ValidationError into INVALID_ARGUMENT naming the field", async () => {
    const { error } = await callEcho(harness.client, { text: "invalid" });
    assert.equal(error?.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(error?.details, "text: must not be 'invalid'");
  });

  it("turns an unexpected error into a generic INTERNAL and logs the real one", async () => {
    const { error } = await callEcho(harness.client, { text: "boom" });
    assert.equal(error?.code, grpc.status.INTERNAL);
    assert.equal(error?.details, "internal error");
    const logged = harness.logger.lines.find((line) => line.level === "error" && line.message === "call failed");
    assert.match(String((logged?.object as { err?: Error } | undefined)?.err?.message), /hunter2/);
  });

  it("answers DEADLINE_EXCEEDED when the deadline passes first, and aborts the handler's signal", async () => {
    const { error } = await callEcho(harness.client, { text: "slow-deadline" }, { deadline: Date.now() + 150 });
    assert.equal(error?.code, grpc.status.DEADLINE_EXCEEDED);
    await sleep(50);
    const signal = signals.get("slow-deadline");
    assert.ok(signal?.aborted, "the handler's signal was not aborted");
    // The server's timer (from the grpc-timeout header, so started when the call arrived) races the
    // client's cancellation at its own deadline: on a loaded machine the cancellation can land first.
    // Either way the handler's signal is aborted; the server's timer says why in its reason and log.
    const reason = (signal.reason as Error).name;
    assert.ok(reason === "TimeoutError" || reason === "AbortError", `aborted by ${reason}`);
    if (reason === "TimeoutError") {
      assert.ok(harness.logger.lines.some((line) => line.message === "deadline exceeded"));
    }
  });

  it("aborts the handler's signal when the client cancels", async () => {
    const call = harness.client.echo({ text: "slow-cancel" }, new grpc.Metadata(), {}, () => {});
    await sleep(100);
    call.cancel();
    await sleep(100);
    const signal = signals.get("slow-cancel");
    assert.ok(signal?.aborted, "the handler's signal was not aborted");
    assert.equal((signal.reason as Error).name, "AbortError");
  });
});

describe("GrpcServer.shutdown", () => {
  it("lets an in-flight call finish, then stops", async () => {
    let started!: () => void;
    const handlerStarted = new Promise<void>((resolve) => (started = resolve));
    const harness = await startHarness(async ({ text }) => {
      started();
      await sleep(300);
      return { text };
    });
    const events: string[] = [];
    const inFlight = callEcho(harness.client, { text: "in flight" }).then((result) => {
      events.push("call finished");
      return result;
    });
    await handlerStarted;
    const stopped = harness.kit.shutdown(5_000).then(() => events.push("server stopped"));

    const { response, error } = await inFlight;
    assert.equal(error, undefined);
    assert.deepEqual(response, { text: "in flight" });
    await stopped;
    assert.deepEqual(events, ["call finished", "server stopped"]);

    const late = createEchoClient(harness.address);
    const refused = await callEcho(late, { text: "late" }, { deadline: Date.now() + 1_000 });
    assert.equal(refused.error?.code, grpc.status.UNAVAILABLE);
    late.close();
    harness.client.close();
  });

  it("cancels calls still running after the grace period", async () => {
    let signal: AbortSignal | undefined;
    let started!: () => void;
    const handlerStarted = new Promise<void>((resolve) => (started = resolve));
    const harness = await startHarness(async ({ text }, context) => {
      signal = context.signal;
      started();
      await sleep(10_000, undefined, { signal: context.signal });
      return { text };
    });
    const inFlight = callEcho(harness.client, { text: "stuck" });
    await handlerStarted;
    const startedAt = Date.now();
    await harness.kit.shutdown(200);
    assert.ok(Date.now() - startedAt < 2_000, "shutdown waited well past its grace period");
    const { error } = await inFlight;
    assert.ok(error !== undefined, "the stuck call did not fail");
    await sleep(50);
    assert.ok(signal?.aborted, "the stuck handler's signal was not aborted");
    harness.client.close();
  });

  it("is idempotent", async () => {
    const harness = await startHarness(async (request) => request);
    const first = harness.kit.shutdown(1_000);
    assert.equal(harness.kit.shutdown(1_000), first);
    await first;
    harness.client.close();
  });
});
