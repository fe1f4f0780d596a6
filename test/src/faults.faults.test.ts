import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { repoRoot } from "@pot/devenv";
import { DEFAULT_POLICY } from "@pot/mechanism";
import { digestTables, type TableDigest } from "@pot/ops";
import { policyToWire } from "@pot/wire";
import { SERVICES } from "./support/system.js";
import { auditLogs, waitForQuiet, type Audit, type ConsumerState } from "./support/fault-audit.js";
import { startFaultRig, type Fault, type FaultRig, type InjectedFault } from "./support/fault-rig.js";
import { checkDeadLetters, injectPoison, type Poison, type PoisonCheck } from "./support/fault-poison.js";
import { playUnderFaults, type Played, type WorkloadStats } from "./support/fault-workload.js";
import { bootstrap, newMember, signedPolicy, TEST_NETWORK, type Member } from "./support/players.js";

/**
 * The fault suite (npm run test:faults; `-- --large` or POT_FAULTS_LARGE=1 for the larger run).
 * Games are played through real gRPC against two replicas of each service, as separate processes,
 * while the suite kills (SIGKILL) each service, the broker and Postgres and starts them again;
 * then it proves that nothing was lost, duplicated or left stuck, that the live read models equal a
 * rebuild from the log, and that `pot verify` finds the log clean. Then, games still going on, it
 * puts poison on every stream and aggregate subject and proves that each consumer dead-letters what
 * it cannot use, with its reason, and that nothing else is lost, duplicated or stuck. The results go
 * to a table on stdout and in POT_FAULTS_REPORT (default test/faults-report.md).
 */

const LARGE = process.env.POT_FAULTS_LARGE === "1";
/** Genesis members; they play again and again (the fault policy's periods are short). */
const MEMBERS = LARGE ? 96 : 48;
const CONCURRENCY = LARGE ? 12 : 8;
/** Games completed before the first fault, between two faults (the system recovered) and after the last. */
const GAMES_BETWEEN = LARGE ? 10 : 4;
const DOWN_MS = 1_000;
const GENERIC_KIND = "post.create";
/** The fault policy's stake, penalty and pair cool-down periods: members play again within seconds. */
const SHORT_MS = 2_000;
/**
 * The default policy with periods of seconds and the growth rules that count games over weeks off,
 * so that a few dozen members play hundreds of games; commit and reveal windows stay a day, so that
 * no fault turns a game into a no-show.
 */
const FAULT_RULES = { ...DEFAULT_POLICY.admission, stakePeriodMs: SHORT_MS, penaltyPeriodMs: SHORT_MS };
const FAULT_POLICY = {
  ...DEFAULT_POLICY,
  admission: FAULT_RULES,
  actionKinds: [{ kind: GENERIC_KIND, rules: { ...FAULT_RULES, defectorCredits: 0 } }],
  pairCooldownMs: SHORT_MS,
  growth: {
    ...DEFAULT_POLICY.growth,
    maturityPeriodMs: 0,
    sponsorQuota: 0,
    sponsorQuotaWindowMs: 0,
    creditCap: 0,
    creditCapWindowMs: 0,
    pendingProposalCap: 0,
  },
};
const CLI = join(repoRoot(), "packages", "cli", "dist", "main.js");
const REPORT = process.env.POT_FAULTS_REPORT ?? join(repoRoot(), "test", "faults-report.md");

const ONE_OF_EACH: Fault[] = [
  { kind: "service", service: "matchmaker", replica: 0 },
  { kind: "service", service: "adjudicator", replica: 1 },
  { kind: "service", service: "identity", replica: 0 },
  { kind: "nats" },
  { kind: "postgres" },
];
const EVERY_REPLICA: Fault[] = [
  { kind: "service-all", service: "matchmaker" },
  { kind: "service-all", service: "adjudicator" },
  { kind: "service-all", service: "identity" },
];
const KILLS: Fault[] = LARGE ? [...ONE_OF_EACH, ...EVERY_REPLICA, ...ONE_OF_EACH, ...EVERY_REPLICA] : ONE_OF_EACH;
/** Poison rounds, under load (and, in the large run, a kill between them). */
const POISONING: Fault[] = LARGE
  ? [{ kind: "poison" }, { kind: "service", service: "matchmaker", replica: 1 }, { kind: "poison" }]
  : [{ kind: "poison" }];
const POISON_ROUNDS = POISONING.filter((fault) => fault.kind === "poison").length;

/** Games played while faults were injected. */
interface Phase {
  readonly played: Played[];
  readonly stats: WorkloadStats;
  readonly seconds: number;
  /** Faults injected while games were being played. */
  readonly underLoad: number;
  readonly planned: number;
}

interface Results {
  injected: readonly InjectedFault[];
  kills?: Phase;
  poisoning?: Phase;
  quiet?: { consumers: ConsumerState[]; quiet: boolean; waitedMs: number };
  audit?: Audit;
  rebuild: { after: string; service: string; equal: boolean; skipped: number; tables: string }[];
  /** `mismatches`: those that are not poison. */
  verify: {
    after: string;
    code: number | null;
    mismatches: number;
    reported: number;
    skipped: number;
    output: string;
  }[];
  poison: (Poison & { round: number })[];
  deadLetters?: PoisonCheck;
}

const playedIn = (results: Results): Played[] => [
  ...(results.kills?.played ?? []),
  ...(results.poisoning?.played ?? []),
];

describe(`fault suite (${LARGE ? "large" : "small"}: ${KILLS.length} kills, ${POISON_ROUNDS} poison rounds, under load)`, () => {
  let rig: FaultRig;
  let genesis: Member[];
  const results: Results = { injected: [], poison: [], rebuild: [], verify: [] };
  const log = (line: string) => console.log(`faults: ${line}`);

  before(async () => {
    rig = await startFaultRig(log);
    results.injected = rig.injected;
    // The players, and a member per round of poison who plays no game (a forged exclusion excludes it).
    genesis = Array.from({ length: MEMBERS + POISON_ROUNDS }, newMember);
    const clients = rig.clients[0]!;
    await bootstrap(clients, genesis);
    const published = await clients.adjudicator.publishPolicy(
      await signedPolicy(clients, { requestId: randomUUID(), policy: policyToWire(FAULT_POLICY) }),
    );
    // Both matchmaker replicas read the policy from the log: the token says when it is adopted.
    for (const set of rig.clients) {
      await set.matchmaker.getStake(
        { memberId: genesis[0]!.id, minSequence: 0n, consistencyToken: published.consistencyToken },
        { deadlineMs: 15_000 },
      );
    }
  });

  after(async () => {
    const table = report(results);
    console.log(`\n${table}`);
    mkdirSync(dirname(REPORT), { recursive: true });
    writeFileSync(REPORT, table);
    console.log(`faults: report written to ${REPORT}`);
    await rig?.stop();
  });

  /**
   * Plays games all the time while injecting `faults`: each once a few more games were played since
   * the last one (so the system served again in between); stops a few games after the last.
   */
  const playWhile = async (faults: readonly Fault[]): Promise<Phase> => {
    const started = performance.now();
    let done = 0;
    let faultsDone = false;
    let finished = false;
    let underLoad = 0;
    let lastGame: string | undefined;
    let injectionFailed: unknown;
    const workload = playUnderFaults(rig.clients, {
      members: genesis.slice(0, MEMBERS),
      concurrency: CONCURRENCY,
      genericKind: GENERIC_KIND,
      callBudgetMs: 120_000,
      onPlayed: (game) => {
        done++;
        if (game.outcome !== undefined) lastGame = game.gameId;
      },
      stop: () => faultsDone,
      restMs: SHORT_MS + 250,
    });
    void workload.finally(() => (finished = true));
    const gamesDone = async (count: number) => {
      while (done < count && !finished) await new Promise((resolve) => setTimeout(resolve, 50));
    };
    try {
      for (const fault of faults) {
        await gamesDone(done + GAMES_BETWEEN);
        if (!finished) underLoad++;
        if (fault.kind !== "poison") {
          await rig.inject(fault, DOWN_MS);
          continue;
        }
        const at = performance.now();
        const round = new Set(results.poison.map((p) => p.round)).size;
        const poison = await injectPoison(rig.nc, rig.namespace, {
          member: genesis[0]!.id,
          gameId: lastGame ?? "none",
          victim: genesis[MEMBERS + round]!,
          round,
        });
        results.poison.push(...poison.map((p) => ({ ...p, round })));
        rig.record(fault, performance.now() - at);
      }
      await gamesDone(done + GAMES_BETWEEN);
    } catch (error) {
      injectionFailed = error;
    }
    // Also when a fault could not be injected: the workload ends, and what it played is checked.
    faultsDone = true;
    const { played, stats } = await workload;
    const phase = { played, stats, seconds: (performance.now() - started) / 1000, underLoad, planned: faults.length };
    log(
      `${played.length} games in ${phase.seconds.toFixed(1)} s, ${stats.calls} calls, retried ${JSON.stringify(stats.retried)}`,
    );
    if (injectionFailed !== undefined) throw injectionFailed;
    return phase;
  };

  const assertPlayed = (phase: Phase) => {
    assert.deepEqual(
      phase.played.filter((game) => game.failure !== undefined).map((game) => game.failure),
      [],
      "every game is played to its end",
    );
    assert.equal(phase.underLoad, phase.planned, "every fault was injected while games were being played");
  };

  const assertQuiet = async () => {
    results.quiet = await waitForQuiet(rig.nc, rig.namespace, LARGE ? 240_000 : 120_000);
    log(`quiet after ${results.quiet.waitedMs} ms; ${results.quiet.consumers.length} durable consumers`);
    const stuck = results.quiet.consumers.filter((c) => c.pending > 0 || c.ackPending > 0);
    assert.deepEqual(stuck, []);
    // Reactions: matchmaker to identity and adjudicator, adjudicator to matchmaker, identity to itself
    // and adjudicator; and each service's read models.
    assert.ok(results.quiet.consumers.length >= 8, "the reactions' and read models' consumers are all there");
  };

  const assertAudit = async () => {
    const played = playedIn(results);
    results.audit = await auditLogs(rig.nc, rig.namespace, played, genesis, results.poison);
    log(`audit: ${JSON.stringify(results.audit.checked)}`);
    assert.deepEqual(results.audit.lost, [], "nothing lost");
    assert.deepEqual(results.audit.duplicated, [], "nothing duplicated");
    assert.equal(results.audit.games, played.length);
  };

  /** Poison a service's read models cannot use: what replay must skip (and the runners dead-lettered). */
  const poisonFor = (service: string) =>
    results.poison.filter((p) =>
      p.deadLetteredBy.some((d) => d.consumer.startsWith(`${rig.namespace}_${service}_views_`)),
    );
  const at = (p: { stream: string; seq: number }) => `${p.stream} ${p.seq}`;

  /**
   * `pot replay all` rebuilds each service's tables from its stream into a fresh schema: they must
   * equal the live ones, and what it skipped must be exactly the poison those read models skip.
   */
  const rebuildEqualsLive = async (after: "kills" | "poison") => {
    const live = new Map<string, TableDigest[]>();
    for (const service of SERVICES) {
      live.set(service, await digestTables({ databaseUrl: rig.databaseUrl, schema: `${rig.namespace}_${service}` }));
    }
    const run = await pot(rig, ["replay", "all", "--json"]);
    const poisoned = results.poison.length > 0;
    // Exit 10 when it skipped something: the tables are rebuilt and swapped in all the same.
    assert.equal(run.code, poisoned ? 10 : 0, `pot replay exited ${run.code}: ${run.stderr}`);
    const rebuilt = JSON.parse(run.stdout) as {
      service: string;
      tables: TableDigest[];
      skipped: { stream: string; seq: number }[];
    }[];
    // The live digests of the tables the rebuild digested, in its order.
    const liveOf = (service: string, tables: TableDigest[]) =>
      tables.map(({ table }) => live.get(service)?.find((t) => t.table === table));
    for (const { service, tables, skipped } of rebuilt) {
      const equal = JSON.stringify(liveOf(service, tables)) === JSON.stringify(tables);
      results.rebuild.push({
        after,
        service,
        equal,
        skipped: skipped.length,
        tables: tables.map((t) => `${t.table} ${t.rows}`).join(", "),
      });
    }
    assert.deepEqual(rebuilt.map((r) => r.service).sort(), [...SERVICES].sort());
    for (const { service, tables, skipped } of rebuilt) {
      assert.deepEqual(tables, liveOf(service, tables), `${service}'s rebuilt tables differ from the live ones`);
      assert.ok(tables.length > 0 && tables.some((t) => t.rows > 0), `${service} rebuilt nothing`);
      assert.deepEqual(
        skipped.map(at).sort(),
        poisonFor(service).map(at).sort(),
        `${service}: the rebuild skips exactly the poison its read models cannot use`,
      );
    }
  };

  /**
   * `pot verify` re-decides the adjudicator's log and cross-checks it with the others: nothing wrong
   * but the poison, each message of which it reports as skipped with its stream and sequence.
   */
  const verifyClean = async (after: "kills" | "poison") => {
    const run = await pot(rig, ["verify", "--json"]);
    const parsed = run.stdout
      ? (JSON.parse(run.stdout) as {
          mismatches?: { stream?: string; seq: number; problem: string }[];
          games?: number;
          skipped?: number;
        })
      : {};
    const mismatches = parsed.mismatches ?? [];
    const streamOf = (name: string | undefined) =>
      `${rig.namespace.toUpperCase()}_${(name ?? "adjudicator").toUpperCase()}`;
    const reported = mismatches.map((m) => ({ ...m, at: `${streamOf(m.stream)} ${m.seq}` }));
    // Every poison message but the NUL (a valid event) is one verify reports; it skips those it
    // cannot decode or check.
    const poison = results.poison.filter((p) => p.verify !== "accepted").map(at);
    const unusable = results.poison.filter((p) => p.verify === "skipped").length;
    const others = reported.filter((m) => !poison.includes(m.at));
    results.verify.push({
      after,
      code: run.code,
      mismatches: others.length,
      reported: new Set(reported.map((m) => m.at)).size,
      skipped: parsed.skipped ?? -1,
      output: run.stdout + run.stderr,
    });
    assert.deepEqual(
      others.map((m) => `${m.at}: ${m.problem}`),
      [],
      "pot verify finds nothing wrong but the poison",
    );
    assert.deepEqual(
      [...new Set(reported.map((m) => m.at))].sort(),
      [...poison].sort(),
      "it reports each poison message",
    );
    assert.equal(parsed.skipped ?? 0, unusable, "and skips each it cannot decode or check");
    assert.equal(run.code, poison.length > 0 ? 10 : 0, `pot verify exited ${run.code}: ${run.stderr}`);
    assert.equal(parsed.games, playedIn(results).length);
  };

  test("games are played to the end while each service, the broker and Postgres are killed and restarted", async () => {
    results.kills = await playWhile(KILLS);
    assertPlayed(results.kills);
  });

  test("no consumer is stuck: every durable consumer has nothing pending and nothing unacknowledged", assertQuiet);

  test(
    "every acknowledged outcome is resolved exactly once; every admission, credit and settlement recorded exactly once",
    assertAudit,
  );

  test("the live read models equal a rebuild from the log (pot replay)", () => rebuildEqualsLive("kills"));

  test("pot verify finds the log clean", () => verifyClean("kills"));

  test("games go on while poison is put on every stream and aggregate subject", async () => {
    results.poisoning = await playWhile(POISONING);
    assertPlayed(results.poisoning);
    assert.equal(new Set(results.poison.map((p) => p.round)).size, POISON_ROUNDS, "every round of poison");
  });

  test("after the poison, no consumer is stuck", assertQuiet);

  test("every poison message is dead-lettered by each consumer that cannot use it, with its reason; a NUL is stored safely", async () => {
    results.deadLetters = await checkDeadLetters(rig.nc, rig.namespace, results.poison);
    log(
      `dead letters: ${results.deadLetters.found} as expected for ${results.poison.length} poison messages, ` +
        `${results.deadLetters.missing.length} missing, ${results.deadLetters.unexpected.length} unexpected`,
    );
    assert.ok(results.deadLetters.found >= 19 * POISON_ROUNDS, "every consumer's dead letters were checked");
    assert.deepEqual(
      [...new Set(results.poison.flatMap((p) => p.deadLetteredBy.map((d) => d.kind)))].sort(),
      ["forged", "invalid", "undecodable"],
      "poison of each kind a consumer meets",
    );
    assert.deepEqual(results.deadLetters.missing, [], "every poison message dead-lettered as it should be");
    assert.deepEqual(results.deadLetters.unexpected, [], "no good event dead-lettered");
    // The identity read model went on past the poison and took the NUL in a safe form.
    for (let round = 0; round < POISON_ROUNDS; round++) {
      const { member } = await rig.clients[0]!.identity.getMember({
        memberId: genesis[MEMBERS + round]!.id,
        minSequence: 0n,
        consistencyToken: "",
      });
      assert.equal(member?.exclusionReason, `poison\uFFFD${round}`, "the NUL is stored as U+FFFD");
    }
  });

  test(
    "after the poison too, every acknowledged outcome is resolved exactly once, every admission, credit and settlement recorded once",
    assertAudit,
  );

  test("after the poison, the live read models equal a rebuild that skips it (pot replay)", () =>
    rebuildEqualsLive("poison"));

  test("after the poison, pot verify finds nothing wrong but the poison, which it reports (and skips what it cannot check)", () =>
    verifyClean("poison"));
});

/** The compiled `pot` as an operator runs it against the rig: the reader's NATS user, the rig's database. */
function pot(rig: FaultRig, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: {
        ...process.env,
        NATS_URL: rig.natsUrl,
        NATS_USER: rig.users.admin.user,
        NATS_PASSWORD: rig.users.admin.password,
        DATABASE_URL: rig.databaseUrl,
        POT_NAMESPACE: rig.namespace,
        POT_NETWORK_ID: TEST_NETWORK,
      },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The suite's table: what was injected, and what was lost, duplicated or stuck (all zero when it passes). */
function report(results: Results): string {
  const audit = results.audit;
  const stuck = results.quiet?.consumers.filter((c) => c.pending > 0 || c.ackPending > 0).length;
  const unknown = "not checked";
  const played = playedIn(results);
  const failedPlays = played.filter((game) => game.failure !== undefined).length;
  const underLoad = (results.kills?.underLoad ?? 0) + (results.poisoning?.underLoad ?? 0);
  const rows: [string, string][] = [
    [
      "faults injected",
      `${underLoad} of ${KILLS.length + POISONING.length} under load: ${KILLS.length + POISONING.length - POISON_ROUNDS} kills (SIGKILL, restart), ${POISON_ROUNDS} round(s) of poison`,
    ],
    ["games", `${audit?.games ?? played.length} (${played.length - failedPlays} played to the end)`],
    ["lost", audit ? String(audit.lost.length) : unknown],
    ["duplicated", audit ? String(audit.duplicated.length) : unknown],
    ["stuck consumers", stuck === undefined ? unknown : String(stuck)],
    [
      "poison not dead-lettered",
      results.deadLetters
        ? `${results.deadLetters.missing.length} (${results.poison.length} poison messages, ${results.deadLetters.found} dead letters as expected, ${results.deadLetters.unexpected.length} unexpected)`
        : unknown,
    ],
    ...(["kills", "poison"] as const).flatMap((after): [string, string][] => {
      const rebuilt = results.rebuild.filter((r) => r.after === after);
      const verified = results.verify.find((v) => v.after === after);
      return [
        [
          `read models ≠ rebuild (after the ${after})`,
          rebuilt.length === 0
            ? unknown
            : `${rebuilt.filter((r) => !r.equal).length}${after === "poison" ? ` (poison skipped: ${rebuilt.reduce((n, r) => n + r.skipped, 0)})` : ""}`,
        ],
        [
          `verify mismatches (after the ${after})`,
          verified === undefined
            ? unknown
            : `${verified.mismatches}${after === "poison" ? ` but the poison (poison messages reported: ${verified.reported}, of which skipped: ${verified.skipped})` : ""}`,
        ],
      ];
    }),
  ];
  const lines = [
    `# Fault suite: ${LARGE ? "large" : "small"} run, ${new Date().toISOString()}`,
    "",
    "| measure | value |",
    "| --- | --- |",
    ...rows.map(([measure, value]) => `| ${measure} | ${value} |`),
    "",
    "Faults in order, each SIGKILL followed by a restart after 1 s (ms until it served again):",
    "",
    ...results.injected.map((fault, index) => `${index + 1}. ${fault.fault}: ${fault.recoveredMs} ms`),
    "",
    ...[results.kills, results.poisoning].flatMap((phase, index) =>
      phase
        ? [
            `${index === 0 ? "Kills" : "Poison"}: ${phase.played.length} games at ${CONCURRENCY} at a time through 2 replicas of each service in ${phase.seconds.toFixed(1)} s; ` +
              `${phase.stats.calls} calls, retried after transient errors: ${JSON.stringify(phase.stats.retried)}`,
          ]
        : [],
    ),
    ...(audit ? [`Checked: ${JSON.stringify(audit.checked)}`] : []),
    ...(results.quiet
      ? [`Consumers: ${results.quiet.consumers.length} durable, quiet after ${results.quiet.waitedMs} ms`]
      : []),
    ...results.rebuild.map(
      (r) =>
        `Rebuild of ${r.service} after the ${r.after}: ${r.equal ? "equal" : "DIFFERENT"} (${r.tables}; ${r.skipped} skipped)`,
    ),
    ...results.verify.map(
      (v) =>
        `pot verify after the ${v.after}: exit ${v.code}, ${v.mismatches} mismatch(es) not poison, ${v.skipped} skipped`,
    ),
    ...(results.poison.length
      ? [
          "",
          "Poison (stream, sequence: what; the consumers that must dead-letter it, and how):",
          "",
          ...results.poison.map(
            (p) =>
              `- ${p.stream} ${p.seq}: ${p.what}; ${p.deadLetteredBy.map((d) => `${d.consumer} (${d.kind})`).join(", ") || "none (stored safely)"}`,
          ),
        ]
      : []),
    ...(results.deadLetters?.missing.length
      ? ["", "Not dead-lettered as expected:", ...results.deadLetters.missing.map((line) => `- ${line}`)]
      : []),
    ...(results.deadLetters?.unexpected.length
      ? ["", "Dead-lettered unexpectedly:", ...results.deadLetters.unexpected.map((line) => `- ${line}`)]
      : []),
    ...(audit?.lost.length ? ["", "Lost:", ...audit.lost.slice(0, 50).map((line) => `- ${line}`)] : []),
    ...(audit?.duplicated.length
      ? ["", "Duplicated:", ...audit.duplicated.slice(0, 50).map((line) => `- ${line}`)]
      : []),
    ...(stuck
      ? [
          "",
          "Stuck:",
          ...results
            .quiet!.consumers.filter((c) => c.pending > 0 || c.ackPending > 0)
            .map((c) => `- ${c.durable} on ${c.stream}: ${c.pending} pending, ${c.ackPending} unacknowledged`),
        ]
      : []),
    "",
  ];
  return lines.join("\n");
}
