import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { NotFoundError } from "@pot/mechanism";
import { silentLogger, type Logger } from "./logger.js";
import { implement, unary, type CallContext, type UnaryHandler } from "./unary.js";

type Reply = [error: Partial<grpc.StatusObject> | null, response?: unknown];

/** A stand-in for a grpc-js server call that records every callback invocation. */
function fakeCall(deadline: grpc.Deadline = Infinity) {
  const call = Object.assign(new EventEmitter(), {
    request: { id: "r-1" },
    metadata: new grpc.Metadata(),
    getDeadline: () => deadline,
  });
  const replies: Reply[] = [];
  const callback = (...reply: Reply) => void replies.push(reply);
  return { call, callback, replies };
}

function invoke(
  handler: UnaryHandler<{ id: string }, unknown>,
  deadline?: grpc.Deadline,
  logger: Logger = silentLogger,
) {
  const fake = fakeCall(deadline);
  const wrapped = unary("/pot.test.Fake/Do", handler, { logger });
  wrapped(fake.call as unknown as grpc.ServerUnaryCall<{ id: string }, unknown>, fake.callback);
  return fake;
}

describe("unary", () => {
  it("replies once with the handler's response and passes the request and metadata", async () => {
    let seen: CallContext | undefined;
    const { replies, call } = invoke(async (request, context) => {
      seen = context;
      return { echoed: request.id };
    });
    await sleep(10);
    assert.deepEqual(replies, [[null, { echoed: "r-1" }]]);
    assert.equal(seen?.deadline, undefined);
    assert.equal(seen?.metadata, call.metadata);
    assert.equal(seen?.signal.aborted, false);
    assert.equal(call.listenerCount("cancelled"), 0, "the cancel listener was left behind");
  });

  it("replies with the mapped status of a domain error", async () => {
    const { replies } = invoke(async () => {
      throw new NotFoundError("no member m-1");
    });
    await sleep(10);
    assert.deepEqual(replies, [[{ code: grpc.status.NOT_FOUND, details: "no member m-1" }]]);
  });

  it("treats a handler that throws synchronously like one that rejects", async () => {
    const lines: string[] = [];
    const logger = { ...silentLogger, error: (_: object, message: string) => void lines.push(message) };
    const { replies } = invoke(
      (() => {
        throw new TypeError("oops");
      }) as UnaryHandler<{ id: string }, unknown>,
      undefined,
      logger,
    );
    await sleep(10);
    assert.deepEqual(replies, [[{ code: grpc.status.INTERNAL, details: "internal error" }]]);
    assert.deepEqual(lines, ["call failed"]);
  });

  it("replies DEADLINE_EXCEEDED once when the deadline passes first, aborts the signal and drops the late result", async () => {
    let signal: AbortSignal | undefined;
    const { replies } = invoke(
      async (_, context) => {
        signal = context.signal;
        await sleep(100);
        throw new Error("too late to matter");
      },
      new Date(Date.now() + 30),
    );
    await sleep(60);
    assert.deepEqual(replies, [[{ code: grpc.status.DEADLINE_EXCEEDED, details: "deadline exceeded" }]]);
    assert.equal(signal?.aborted, true);
    await sleep(80);
    assert.equal(replies.length, 1);
  });

  it("does not start a handler whose deadline has already passed", async () => {
    let started = false;
    const { replies } = invoke(async () => {
      started = true;
      return {};
    }, Date.now() - 1);
    await sleep(10);
    assert.equal(started, false);
    assert.deepEqual(replies, [[{ code: grpc.status.DEADLINE_EXCEEDED, details: "deadline exceeded" }]]);
  });

  it("reports a cancellation at the deadline (grpc-js's own deadline timer) as the deadline", async () => {
    let signal: AbortSignal | undefined;
    const { call, replies } = invoke(
      async (_, context) => {
        signal = context.signal;
        await sleep(50, undefined, { signal: context.signal });
        return {};
      },
      new Date(Date.now() + 20),
    );
    await sleep(5); // within the slack of the deadline, before the kit's own timer
    call.emit("cancelled");
    assert.equal((signal?.reason as Error).name, "TimeoutError");
    assert.deepEqual(replies, [[{ code: grpc.status.DEADLINE_EXCEEDED, details: "deadline exceeded" }]]);
  });

  it("aborts the signal when the call is cancelled and replies at most once", async () => {
    let signal: AbortSignal | undefined;
    const { call, replies } = invoke(async (_, context) => {
      signal = context.signal;
      await sleep(50, undefined, { signal: context.signal });
      return {};
    });
    await sleep(10);
    call.emit("cancelled");
    await sleep(60);
    assert.equal(signal?.aborted, true);
    assert.equal((signal?.reason as Error).name, "AbortError");
    assert.equal(replies.length, 1);
    assert.equal(replies[0]?.[0]?.code, grpc.status.CANCELLED);
  });
});

describe("implement", () => {
  const definition = {
    get: {
      path: "/pot.test.Fake/Get",
      requestStream: false as const,
      responseStream: false as const,
      requestSerialize: (value: { id: string }) => Buffer.from(value.id),
      requestDeserialize: (bytes: Buffer) => ({ id: bytes.toString() }),
      responseSerialize: (value: { name: string }) => Buffer.from(value.name),
      responseDeserialize: (bytes: Buffer) => ({ name: bytes.toString() }),
    },
  };

  it("wraps each method with unary", async () => {
    const implementation = implement(
      definition,
      { get: async ({ id }) => ({ name: `member ${id}` }) },
      { logger: silentLogger },
    );
    const fake = fakeCall();
    implementation.get(fake.call as unknown as grpc.ServerUnaryCall<{ id: string }, { name: string }>, fake.callback);
    await sleep(10);
    assert.deepEqual(fake.replies, [[null, { name: "member r-1" }]]);
  });

  it("refuses a streaming method", () => {
    const streaming = { watch: { ...definition.get, path: "/pot.test.Fake/Watch", responseStream: true } };
    assert.throws(
      () => implement(streaming, { watch: async () => ({ name: "" }) } as never, { logger: silentLogger }),
      /streams/,
    );
  });
});
