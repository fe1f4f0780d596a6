import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import { ValidationError } from "@pot/mechanism";
import { toGrpcStatus, UnavailableError } from "./grpc-status.js";
import { waitForSequence, type SequenceWaiter } from "./wait-for-sequence.js";

/** A projection at `position` that reaches `reachesAt` (if ever) when waited on; records the timeouts asked for. */
function projection(position: number, reachesAt?: number): SequenceWaiter & { timeouts: number[] } {
  const timeouts: number[] = [];
  return {
    timeouts,
    position: () => position,
    waitFor: async (seq, timeoutMs) => {
      timeouts.push(timeoutMs);
      if (reachesAt !== undefined && reachesAt >= seq) {
        position = reachesAt;
        return true;
      }
      return false;
    },
  };
}

describe("waitForSequence", () => {
  it("does not wait for sequence 0 or one already applied", async () => {
    const runner = projection(10);
    await waitForSequence(runner, 0n, undefined);
    await waitForSequence(runner, 10n, undefined);
    assert.deepEqual(runner.timeouts, []);
  });

  it("waits until the deadline for a sequence not yet applied", async () => {
    const runner = projection(10, 12);
    await waitForSequence(runner, 12n, new Date(Date.now() + 1_000));
    assert.equal(runner.timeouts.length, 1);
    assert.ok(runner.timeouts[0]! > 900 && runner.timeouts[0]! <= 1_000, String(runner.timeouts[0]));
  });

  it("waits at most maxWaitMs without a deadline", async () => {
    const runner = projection(10, 12);
    await waitForSequence(runner, 12, undefined, { maxWaitMs: 250 });
    assert.deepEqual(runner.timeouts, [250]);
  });

  it("gives UNAVAILABLE when the read model is still behind", async () => {
    const error = await waitForSequence(projection(10), 11n, new Date(Date.now() + 10)).catch((e: unknown) => e);
    assert.ok(error instanceof UnavailableError);
    assert.deepEqual(toGrpcStatus(error), {
      code: status.UNAVAILABLE,
      details: "the read model has applied up to sequence 10, not yet 11; retry later",
    });
  });

  it("refuses a sequence no stream can reach", async () => {
    await assert.rejects(waitForSequence(projection(10), 2n ** 60n, undefined), ValidationError);
  });
});
