import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import {
  formatConsistencyToken,
  parseConsistencyToken,
  waitForConsistency,
  type ConsistencyTarget,
  type ConsistencyWaiter,
} from "./consistency.js";
import { toGrpcStatus } from "./grpc-status.js";

/** A service following `streams`, whose own read model is at `position`; records what it was asked to wait for. */
function waiter(
  streams: string[],
  position: number,
  missing?: string,
): ConsistencyWaiter & { asked: ConsistencyTarget[] } {
  const asked: ConsistencyTarget[] = [];
  return {
    asked,
    projection: { position: () => position, waitFor: async (seq) => position >= seq },
    follows: (stream) => streams.includes(stream),
    waitFor: async (target) => {
      asked.push(target);
      return missing;
    },
  };
}

const statusOf = (error: unknown) => toGrpcStatus(error).code;

describe("consistency tokens", () => {
  it("name the stream and the sequence, several joined by commas", () => {
    assert.equal(formatConsistencyToken("adjudicator", 1234n), "adjudicator:1234");
    assert.deepEqual(parseConsistencyToken(""), []);
    assert.deepEqual(parseConsistencyToken("adjudicator:1234, identity:7"), [
      { stream: "adjudicator", seq: 1234 },
      { stream: "identity", seq: 7 },
    ]);
  });

  it("refuse anything else, naming the field", () => {
    for (const bad of [
      "adjudicator",
      "adjudicator:0",
      "adjudicator:-1",
      "Adjudicator:1",
      "a:1:2",
      "a:99999999999999999",
      "x:1,",
    ]) {
      assert.throws(
        () => parseConsistencyToken(bad),
        (error: Error) => {
          assert.equal(statusOf(error), status.INVALID_ARGUMENT, bad);
          assert.match(error.message, /consistency_token/);
          return true;
        },
      );
    }
  });

  it("wait for every target after the own stream's min_sequence", async () => {
    const service = waiter(["identity", "adjudicator"], 10);
    await waitForConsistency(service, { minSequence: 5n, consistencyToken: "adjudicator:40,identity:9" }, undefined);
    assert.deepEqual(service.asked, [
      { stream: "adjudicator", seq: 40 },
      { stream: "identity", seq: 9 },
    ]);
  });

  it("refuse a stream the service does not follow, before waiting for anything", async () => {
    const service = waiter(["adjudicator", "matchmaker"], 10);
    await assert.rejects(
      waitForConsistency(service, { minSequence: 0n, consistencyToken: "identity:3" }, undefined),
      (error) => statusOf(error) === status.INVALID_ARGUMENT,
    );
    assert.deepEqual(service.asked, []);
  });

  it("answer UNAVAILABLE with what is missing when the read model is still behind", async () => {
    const service = waiter(["adjudicator"], 10, "the reactions to adjudicator have not handled 40");
    await assert.rejects(
      waitForConsistency(service, { minSequence: 0n, consistencyToken: "adjudicator:40" }, new Date(Date.now() + 50)),
      (error: Error) => statusOf(error) === status.UNAVAILABLE && /not handled 40/.test(error.message),
    );
  });
});

describe("consistency tokens from an attacker", () => {
  it("a 200 KB token is refused before it is split, with a short message", () => {
    const started = performance.now();
    assert.throws(
      () => parseConsistencyToken(`adjudicator:${"9".repeat(200_000)}`),
      (error: Error) => statusOf(error) === status.INVALID_ARGUMENT && error.message.length < 120,
    );
    assert.ok(performance.now() - started < 50);
  });

  it("an entry that does not parse is quoted cut to 64 characters with its size, control characters escaped", () => {
    assert.throws(
      () => parseConsistencyToken(`x\u0000${"y".repeat(100)}`),
      (error: Error) =>
        !error.message.includes("\u0000") && error.message.includes("\\u0000") && /…\(102 bytes\)/.test(error.message),
    );
  });
});

describe("the server's cap on consistency waits", () => {
  it("stops waiting after the waiter's maxWaitMs even when the caller's deadline is far away", async () => {
    const service = {
      ...waiter(["adjudicator"], 10),
      maxWaitMs: 100,
      waitFor: async (_target: ConsistencyTarget, timeoutMs: number) => {
        await new Promise((resolve) => setTimeout(resolve, timeoutMs));
        return "still behind";
      },
    };
    const started = Date.now();
    await assert.rejects(
      waitForConsistency(
        service,
        { minSequence: 0n, consistencyToken: "adjudicator:40" },
        new Date(Date.now() + 60_000),
      ),
      (error) => statusOf(error) === status.UNAVAILABLE,
    );
    const waited = Date.now() - started;
    assert.ok(waited >= 90 && waited < 1_000, `waited ${waited} ms`);
  });
});
