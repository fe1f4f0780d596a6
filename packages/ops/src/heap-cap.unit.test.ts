import assert from "node:assert/strict";
import { test } from "node:test";
import { cappedNodeArgs, HEAP_CAPPED_ENV, REPLAY_HEAP } from "./heap-cap.js";

const big = 4 * 2 ** 30;

test("cappedNodeArgs re-executes the script with the replay's heap flags, keeping the other Node flags", () => {
  assert.deepEqual(
    cappedNodeArgs({
      execArgv: ["--enable-source-maps", "--max-old-space-size=4096", "--max_semi_space_size=64"],
      script: "/x/main.js",
      args: ["replay", "identity"],
      heapLimitBytes: big,
      env: {},
    }),
    [
      "--enable-source-maps",
      `--max-old-space-size=${REPLAY_HEAP.maxOldSpaceMb}`,
      `--max-semi-space-size=${REPLAY_HEAP.maxSemiSpaceMb}`,
      "/x/main.js",
      "replay",
      "identity",
    ],
  );
});

test("cappedNodeArgs leaves a process alone once re-executed, or when its heap is capped already", () => {
  const base = { execArgv: [], script: "/x/main.js", args: ["replay", "all"] };
  assert.equal(cappedNodeArgs({ ...base, heapLimitBytes: big, env: { [HEAP_CAPPED_ENV]: "1" } }), undefined);
  assert.equal(cappedNodeArgs({ ...base, heapLimitBytes: 128 * 2 ** 20, env: {} }), undefined);
  assert.notEqual(cappedNodeArgs({ ...base, heapLimitBytes: big, env: { [HEAP_CAPPED_ENV]: "0" } }), undefined);
});
