import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Metadata, status } from "@grpc/grpc-js";
import { LocalFileError } from "@pot/client";
import { Outcome } from "@pot/contracts";
import type { Command } from "commander";
import {
  buildProgram,
  chooseMove,
  CliError,
  describeError,
  EXIT,
  exitCodeForStatus,
  formatDuration,
  formatInstant,
  merge,
  outcomeLabel,
  pairUp,
  run,
  seededRandom,
  settingsFrom,
  type Io,
} from "./index.js";

async function pot(args: string[], env: Record<string, string> = {}) {
  let stdout = "";
  let stderr = "";
  const io: Io = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), interactive: false };
  const saved = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]));
  Object.assign(process.env, env);
  try {
    const code = await run(args, { io });
    return { code, stdout, stderr };
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/** One line on stderr, starting with "pot: ". */
function assertOneSentence(stderr: string) {
  assert.match(stderr, /^pot: [^\n]+\n$/, `one line on stderr, got ${JSON.stringify(stderr)}`);
}

describe("pot: parsing, help and usage errors", () => {
  test("--help everywhere: every command and subcommand prints its usage and exits 0", async () => {
    const top = await pot(["--help"]);
    assert.equal(top.code, EXIT.ok);
    assert.match(top.stdout, /^Usage: pot \[options\] \[command\]/);
    assert.match(top.stdout, /Exit codes:/);
    const paths: string[][] = [];
    const walk = (command: Command, path: string[]) => {
      for (const sub of command.commands) {
        if (sub.name() === "help") continue;
        paths.push([...path, sub.name()]);
        walk(sub, [...path, sub.name()]);
      }
    };
    walk(buildProgram({ stdout: () => {}, stderr: () => {}, interactive: false }, new AbortController().signal), []);
    assert.ok(paths.length >= 20, `found ${paths.length} commands`);
    for (const path of paths) {
      const { code, stdout } = await pot([...path, "--help"]);
      assert.equal(code, EXIT.ok, path.join(" "));
      assert.match(stdout, new RegExp(`^Usage: pot ${path.join(" ")}`), path.join(" "));
    }
  });

  test("bad arguments exit 2 with one sentence", async () => {
    const cases: [string[], RegExp][] = [
      [["bogus"], /unknown command 'bogus'/],
      [["propose"], /required option '--partner <member-id>' not specified/],
      [["propose", "--partner", "abc"], /must be a member id/],
      [["accept", "not-a-uuid"], /must be a lowercase UUID/],
      [["commit", "6a1f0f8e-6a52-4a4e-9a39-0b9e4c1f2d3e"], /required option '--move <move>'/],
      [["commit", "6a1f0f8e-6a52-4a4e-9a39-0b9e4c1f2d3e", "--move", "maybe"], /Allowed choices are cooperate, defect/],
      [["--timeout", "0", "keys", "show"], /must be a whole number from 1/],
      [["events", "tail", "--service", "billing"], /Allowed choices are identity, matchmaker, adjudicator, all/],
      [["replay"], /missing required argument 'service'/],
      [["keys", "show", "--namespace", "Bad!"], /namespace 'Bad!' is invalid/],
    ];
    for (const [args, message] of cases) {
      const { code, stdout, stderr } = await pot(args);
      assert.equal(code, EXIT.usage, `${args.join(" ")}: ${stderr}`);
      assertOneSentence(stderr);
      assert.match(stderr, message);
      assert.equal(stdout, "");
    }
    const bare = await pot([]);
    assert.equal(bare.code, EXIT.usage, "no command: the help, on stderr, and exit 2");
    assert.match(bare.stderr, /^Usage: pot/);
  });

  test("the environment supplies options; a flag wins over it", async () => {
    const settings = settingsFrom({});
    assert.equal(settings.addresses.identity, "127.0.0.1:50051");
    assert.equal(settings.namespace, "pot");
    assert.equal(settings.timeoutMs, 10_000);
    assert.throws(() => settingsFrom({ namespace: "POT" }), CliError);
    const fromEnv = await pot(["events", "tail"], { POT_NAMESPACE: "Not-Valid" });
    assert.equal(fromEnv.code, EXIT.usage);
    assert.match(fromEnv.stderr, /namespace 'Not-Valid' is invalid/);
  });
});

describe("pot keys", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "pot-cli-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("generate writes a private key file, show reads it back, never the secret", async () => {
    const a = join(dir, "a.json");
    const b = join(dir, "b.json");
    const generated = await pot(["keys", "generate", "--key", a, "--name", "ada", "--json"]);
    assert.equal(generated.code, EXIT.ok, generated.stderr);
    const { memberId, keyFile, displayName } = JSON.parse(generated.stdout) as Record<string, string>;
    assert.match(memberId!, /^[0-9a-f]{64}$/);
    assert.equal(keyFile, a);
    assert.equal(displayName, "ada");
    await pot(["keys", "generate", "--key", b]);

    const shown = await pot(["keys", "show", "--json"], { POT_KEY_FILE: a });
    assert.equal((JSON.parse(shown.stdout) as { memberId: string }).memberId, memberId);
    assert.ok(!shown.stdout.includes("secret"));
    const flagWins = await pot(["keys", "show", "--key", b, "--json"], { POT_KEY_FILE: a });
    assert.notEqual((JSON.parse(flagWins.stdout) as { memberId: string }).memberId, memberId);
    const human = await pot(["keys", "show", "--key", a]);
    assert.match(human.stdout, new RegExp(`^member +${memberId}\nname +ada\nkey file +${a}\n$`));

    const again = await pot(["keys", "generate", "--key", a]);
    assert.equal(again.code, EXIT.usage);
    assertOneSentence(again.stderr);
    assert.match(again.stderr, /already exists.*--force/);
    assert.equal((await pot(["keys", "generate", "--key", a, "--force"])).code, EXIT.ok);

    const missing = await pot(["keys", "show", "--key", join(dir, "none.json")]);
    assert.equal(missing.code, EXIT.usage);
    assertOneSentence(missing.stderr);
    assert.match(missing.stderr, /does not exist: run `pot keys generate`/);
  });
});

describe("pot errors and exit codes", () => {
  const serviceError = (code: status, details: string) =>
    Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata: new Metadata() });

  test("every gRPC status maps to its documented exit code", () => {
    const expected: [status, number][] = [
      [status.INVALID_ARGUMENT, 3],
      [status.NOT_FOUND, 4],
      [status.FAILED_PRECONDITION, 5],
      [status.PERMISSION_DENIED, 6],
      [status.ALREADY_EXISTS, 7],
      [status.ABORTED, 8],
      [status.UNAVAILABLE, 9],
      [status.DEADLINE_EXCEEDED, 9],
      [status.INTERNAL, 1],
      [status.UNKNOWN, 1],
    ];
    for (const [code, exit] of expected) assert.equal(exitCodeForStatus(code), exit, status[code]);
  });

  test("a refusal is one sentence: the service's reason and the status", () => {
    const refused = describeError(
      serviceError(status.FAILED_PRECONDITION, "members a and b played together recently;\nthey may again later"),
    );
    assert.equal(refused.exitCode, EXIT.failedPrecondition);
    assert.equal(
      refused.message,
      "members a and b played together recently; they may again later [FAILED_PRECONDITION]",
    );
    const down = describeError(
      serviceError(
        status.UNAVAILABLE,
        "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:50052. Resolution note: ",
      ),
    );
    assert.equal(down.exitCode, EXIT.unavailable);
    assert.match(
      down.message,
      /^cannot connect: connect ECONNREFUSED 127\.0\.0\.1:50052 \[UNAVAILABLE\] \(is the service running\?/,
    );
    assert.equal(describeError(new LocalFileError("/k", "key file /k is not JSON")).exitCode, EXIT.usage);
    assert.equal(describeError(new CliError(EXIT.mismatches, "2 mismatches")).exitCode, EXIT.mismatches);
    assert.equal(describeError(new Error("boom")).exitCode, EXIT.failure);
    assert.equal(describeError(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })).exitCode, 9);
  });
});

describe("pot output formatting", () => {
  test("durations keep their two largest units; instants say how far they are", () => {
    assert.equal(formatDuration(0), "0 s");
    assert.equal(formatDuration(1_500), "1.5 s");
    assert.equal(formatDuration(42_000), "42 s");
    assert.equal(formatDuration(90_061_000), "1 d 1 h");
    assert.equal(formatDuration(7 * 86_400_000), "7 d");
    assert.equal(formatDuration(3_660_000), "1 h 1 min");
    assert.equal(formatInstant(0n, 0), "never");
    const now = Date.UTC(2030, 0, 1);
    assert.equal(formatInstant(BigInt(now + 2 * 86_400_000), now), "2030-01-03T00:00:00.000Z (in 2 d)");
    assert.equal(formatInstant(now - 5_000, now), "2029-12-31T23:59:55.000Z (5 s ago)");
    assert.equal(outcomeLabel(Outcome.OUTCOME_A_DEFECTED), "A defected");
    assert.equal(outcomeLabel(Outcome.OUTCOME_BOTH_COOPERATED), "both cooperated");
  });
});

describe("pot demo strategies and helpers", () => {
  test("strategies: always, tit-for-tat after the last opponent, random from the seed", () => {
    const random = seededRandom(7);
    assert.equal(chooseMove("always-cooperate", { lastOpponentMove: "defect" }, random), "cooperate");
    assert.equal(chooseMove("always-defect", {}, random), "defect");
    assert.equal(chooseMove("tit-for-tat", {}, random), "cooperate");
    assert.equal(chooseMove("tit-for-tat", { lastOpponentMove: "defect" }, random), "defect");
    const draws = (seed: number) => {
      const seeded = seededRandom(seed);
      return Array.from({ length: 20 }, () => chooseMove("random", {}, seeded));
    };
    assert.deepEqual(draws(1), draws(1), "same seed, same moves");
    assert.notDeepEqual(draws(1), draws(2));
    const moves = Array.from({ length: 200 }, () => chooseMove("random", {}, random));
    assert.ok(moves.includes("cooperate") && moves.includes("defect"));
  });

  test("pairing uses each player once and skips pairs still cooling down", () => {
    const players = Array.from({ length: 9 }, (_, i) => i);
    const pairs = pairUp(players, seededRandom(3), (a, b) => a + b === 9);
    assert.equal(pairs.length, 4);
    const used = pairs.flat();
    assert.equal(new Set(used).size, used.length);
    assert.ok(pairs.every(([a, b]) => a + b !== 9));
    assert.equal(pairUp(players, seededRandom(3), () => false, 2).length, 2, "at most the limit");
    assert.deepEqual(
      pairUp([1, 2], seededRandom(3), () => true),
      [],
    );
  });

  test("merge interleaves sources as they yield and ends with the last", async () => {
    async function* source(name: string, delays: number[]) {
      for (const [index, delay] of delays.entries()) {
        await new Promise((resolve) => setTimeout(resolve, delay));
        yield `${name}${index}`;
      }
    }
    const out: string[] = [];
    for await (const item of merge([source("a", [5, 30]), source("b", [15])])) out.push(item);
    assert.deepEqual(out, ["a0", "b0", "a1"]);
  });
});
