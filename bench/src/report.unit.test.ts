import assert from "node:assert/strict";
import { test } from "node:test";
import { whileApplying } from "./report.js";

test("whileApplying drops the samples taken once the count is within 0.5% of its end", () => {
  const progress = [
    [0, 0, 100],
    [1000, 50, 110],
    [2000, 100, 120],
    [3000, 100, 121],
    [4000, 100, 122],
  ] as const;
  assert.deepEqual(whileApplying(progress), progress.slice(0, 3));
  assert.deepEqual(whileApplying(progress.slice(0, 2)), progress.slice(0, 2));
  assert.deepEqual(whileApplying([]), []);
  // A replay's progress stands just short of the end while its indexes are built and it swaps.
  const replay = [
    [0, 0, 1],
    [1000, 5000, 1],
    [2000, 9_960, 1],
    [3000, 9_960, 1],
    [4000, 10_000, 1],
  ] as const;
  assert.deepEqual(whileApplying(replay), replay.slice(0, 3));
});
