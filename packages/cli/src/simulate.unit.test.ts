import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { EXIT, run, type Io } from "./index.js";

async function pot(args: string[]) {
  let stdout = "";
  let stderr = "";
  const io: Io = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), interactive: false };
  const code = await run(args, { io });
  return { code, stdout, stderr };
}

test("pot simulate runs the deciders, prints the table and writes its CSV and SVG files", async () => {
  const dir = await mkdtemp(join(tmpdir(), "pot-simulate-"));
  try {
    const out = join(dir, "out");
    const { code, stdout, stderr } = await pot([
      "simulate",
      "--members",
      "60",
      "--days",
      "28",
      "--seed",
      "3",
      "--out",
      out,
    ]);
    assert.equal(code, EXIT.ok, stderr);
    assert.match(stdout, /policy default, seed 3, 28 days = 4 stake periods/);
    assert.match(stdout, /attacker strategy\s+groups/);
    assert.match(stdout, /self-play-farm/);
    assert.match(stdout, /within 2 TTLs/);
    assert.match(stdout, /[\d.]+ s wall time, [\d.]+ s CPU time/);
    assert.match(stderr, /wrote 5 files to/);
    const files = (await readdir(out)).sort();
    assert.deepEqual(files, [
      "default-attackers.svg",
      "default-honest.svg",
      "default-identities.svg",
      "default-strategies.csv",
      "default-timeseries.csv",
    ]);
    const csv = await readFile(join(out, "default-timeseries.csv"), "utf8");
    assert.equal(csv.trimEnd().split("\n").length, 1 + 4);
    const json = await pot(["simulate", "--members", "60", "--days", "28", "--seed", "3", "--out", out, "--json"]);
    assert.equal(json.code, EXIT.ok, json.stderr);
    const parsed = JSON.parse(json.stdout) as { seed: number; stakePeriods: number; files: string[] };
    assert.equal(parsed.seed, 3);
    assert.equal(parsed.stakePeriods, 4);
    assert.equal(parsed.files.length, 5);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("pot simulate refuses an unknown strategy or policy with a sentence and exit code 2", async () => {
  const strategy = await pot(["simulate", "--strategies", "always-defect,sybil-magic", "--out", tmpdir()]);
  assert.equal(strategy.code, EXIT.usage);
  assert.match(strategy.stderr, /unknown attacker strategy sybil-magic/);
  const policy = await pot(["simulate", "--policy", "nope"]);
  assert.equal(policy.code, EXIT.usage);
  assert.match(policy.stderr, /--policy/);
  const share = await pot(["simulate", "--honest-share", "1.5"]);
  assert.equal(share.code, EXIT.usage);
  assert.match(share.stderr, /from 0 to 1/);
});
