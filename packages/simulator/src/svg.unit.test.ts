import assert from "node:assert/strict";
import { test } from "node:test";
import { lineChart, niceTicks } from "./svg.js";

test("ticks are round and cover the maximum", () => {
  assert.deepEqual(niceTicks(10), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(niceTicks(730), [0, 200, 400, 600, 800]);
  assert.deepEqual(niceTicks(0), [0, 1]);
});

test("a chart escapes its text, draws one polyline per series, and a log axis handles 0", () => {
  const svg = lineChart({
    title: "a < b & c",
    xLabel: "day",
    yLabel: "n",
    logY: true,
    series: [
      {
        name: "x",
        points: [
          [0, 0],
          [7, 10],
          [14, 1000],
        ],
      },
      {
        name: "y",
        points: [
          [0, 2],
          [14, 3],
        ],
      },
    ],
  });
  assert.match(svg, /a &lt; b &amp; c/);
  assert.equal(svg.match(/<polyline /g)?.length, 2);
  assert.doesNotMatch(svg, /NaN/);
  assert.equal(lineChart({ title: "t", xLabel: "x", yLabel: "y", series: [] }).includes("<polyline"), false);
});
