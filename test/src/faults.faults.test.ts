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
import { playUnderFaults, type Played, type WorkloadStats } from "./support/fault-workload.js";
import { bootstrap, newMember, signedPolicy, TEST_NETWORK, type Member } from "./support/players.js";

/**
 * The fault suite (npm run test:faults; `-- --large` or POT_FAULTS_LARGE=1 for the larger run).
 * Games are played through real gRPC against two replicas of each service, as separate processes,
 * while the suite kills (SIGKILL) each service, the broker and Postgres and starts them again;
 * then it proves that nothing was lost, duplicated or left stuck, that the live read models equal a
 * rebuild from the log, and that `pot verify` finds the log clean. The results go to a table on
 * stdout and in POT_FAULTS_REPORT (default test/faults-report.md).
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
const FAULTS: Fault[] = LARGE ? [...ONE_OF_EACH, ...EVERY_REPLICA, ...ONE_OF_EACH, ...EVERY_REPLICA] : ONE_OF_EACH;

interface Results {
  injected: readonly InjectedFault[];
  played: Played[];
  stats?: WorkloadStats;
  seconds?: number;
  /** Faults injected while games were still being played. */
  underLoad: number;
  quiet?: { consumers: ConsumerState[]; quiet: boolean; waitedMs: number };
  audit?: Audit;
  rebuild: { service: string; equal: boolean; tables: string }[];
  verify?: { code: number | null; mismatches: number; output: string };
}

describe(`fault suite (${LARGE ? "large" : "small"}: ${FAULTS.length} faults under load)`, () => {
  let rig: FaultRig;
  let genesis: Member[];
  const results: Results = { injected: [], played: [], underLoad: 0, rebuild: [] };
  const log = (line: string) => console.log(`faults: ${line}`);

  before(async () => {
    rig = await startFaultRig(log);
    results.injected = rig.injected;
    genesis = Array.from({ length: MEMBERS }, newMember);
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

  test("games are played to the end while each service, the broker and Postgres are killed and restarted", async () => {
    const started = performance.now();
    let done = 0;
    let faultsDone = false;
    const workload = playUnderFaults(rig.clients, {
      members: genesis,
      concurrency: CONCURRENCY,
      genericKind: GENERIC_KIND,
      callBudgetMs: 120_000,
      onPlayed: () => done++,
      stop: () => faultsDone,
      restMs: SHORT_MS + 250,
    });
    let finished = false;
    void workload.finally(() => (finished = true));
    const gamesDone = async (count: number) => {
      while (done < count && !finished) await new Promise((resolve) => setTimeout(resolve, 50));
    };
    // Games go on all the time; each fault comes once a few more games were played since the last
    // one (so the system served again in between), and the workload stops a few games after the last.
    for (const fault of FAULTS) {
      await gamesDone(done + GAMES_BETWEEN);
      if (!finished) results.underLoad++;
      await rig.inject(fault, DOWN_MS);
    }
    await gamesDone(done + GAMES_BETWEEN);
    faultsDone = true;
    const { played, stats } = await workload;
    results.played = played;
    results.stats = stats;
    results.seconds = (performance.now() - started) / 1000;
    log(
      `${played.length} games in ${results.seconds.toFixed(1)} s, ${stats.calls} calls, retried ${JSON.stringify(stats.retried)}`,
    );
    const failed = played.filter((game) => game.failure !== undefined);
    assert.deepEqual(
      failed.map((game) => game.failure),
      [],
      "every game is played to its end",
    );
    assert.equal(results.underLoad, FAULTS.length, "every fault was injected while games were being played");
  });

  test("no consumer is stuck: every durable consumer has nothing pending and nothing unacknowledged", async () => {
    results.quiet = await waitForQuiet(rig.nc, rig.namespace, LARGE ? 240_000 : 120_000);
    log(`quiet after ${results.quiet.waitedMs} ms; ${results.quiet.consumers.length} durable consumers`);
    const stuck = results.quiet.consumers.filter((c) => c.pending > 0 || c.ackPending > 0);
    assert.deepEqual(stuck, []);
    // Reactions: matchmaker to identity and adjudicator, adjudicator to matchmaker, identity to itself
    // and adjudicator; and each service's read models.
    assert.ok(results.quiet.consumers.length >= 8, "the reactions' and read models' consumers are all there");
  });

  test("every acknowledged outcome is resolved exactly once; every admission, credit and settlement recorded exactly once", async () => {
    results.audit = await auditLogs(rig.nc, rig.namespace, results.played, genesis);
    log(`audit: ${JSON.stringify(results.audit.checked)}`);
    assert.deepEqual(results.audit.lost, [], "nothing lost");
    assert.deepEqual(results.audit.duplicated, [], "nothing duplicated");
    assert.equal(results.audit.games, results.played.length);
  });

  test("the live read models equal a rebuild from the log (pot replay)", async () => {
    const live = new Map<string, TableDigest[]>();
    for (const service of SERVICES) {
      live.set(service, await digestTables({ databaseUrl: rig.databaseUrl, schema: `${rig.namespace}_${service}` }));
    }
    const run = await pot(rig, ["replay", "all", "--json"]);
    assert.equal(run.code, 0, `pot replay exited ${run.code}: ${run.stderr}`);
    const rebuilt = JSON.parse(run.stdout) as { service: string; tables: TableDigest[] }[];
    // The live digests of the tables the rebuild digested, in its order.
    const liveOf = (service: string, tables: TableDigest[]) =>
      tables.map(({ table }) => live.get(service)?.find((t) => t.table === table));
    for (const { service, tables } of rebuilt) {
      const equal = JSON.stringify(liveOf(service, tables)) === JSON.stringify(tables);
      results.rebuild.push({ service, equal, tables: tables.map((t) => `${t.table} ${t.rows}`).join(", ") });
    }
    assert.deepEqual(rebuilt.map((r) => r.service).sort(), [...SERVICES].sort());
    for (const { service, tables } of rebuilt) {
      assert.deepEqual(tables, liveOf(service, tables), `${service}'s rebuilt tables differ from the live ones`);
      assert.ok(tables.length > 0 && tables.some((t) => t.rows > 0), `${service} rebuilt nothing`);
    }
  });

  test("pot verify finds the log clean", async () => {
    const run = await pot(rig, ["verify", "--json"]);
    const parsed = run.stdout ? (JSON.parse(run.stdout) as { mismatches?: unknown[]; games?: number }) : {};
    results.verify = { code: run.code, mismatches: parsed.mismatches?.length ?? -1, output: run.stdout + run.stderr };
    assert.equal(run.code, 0, `pot verify exited ${run.code}: ${run.stdout}${run.stderr}`);
    assert.deepEqual(parsed.mismatches, []);
    assert.equal(parsed.games, results.played.length);
  });
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
  const failedPlays = results.played.filter((game) => game.failure !== undefined).length;
  const rows: [string, string][] = [
    ["faults injected", `${results.underLoad} under load (${FAULTS.length} planned)`],
    ["games", `${audit?.games ?? results.played.length} (${results.played.length - failedPlays} played to the end)`],
    ["lost", audit ? String(audit.lost.length) : unknown],
    ["duplicated", audit ? String(audit.duplicated.length) : unknown],
    ["stuck consumers", stuck === undefined ? unknown : String(stuck)],
    [
      "read models ≠ rebuild",
      results.rebuild.length === 0 ? unknown : String(results.rebuild.filter((r) => !r.equal).length),
    ],
    ["verify mismatches", results.verify ? String(results.verify.mismatches) : unknown],
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
    `Workload: ${results.played.length} games at ${CONCURRENCY} at a time through ${2} replicas of each service` +
      (results.seconds !== undefined ? ` in ${results.seconds.toFixed(1)} s` : "") +
      (results.stats
        ? `; ${results.stats.calls} calls, retried after transient errors: ${JSON.stringify(results.stats.retried)}`
        : ""),
    ...(audit ? [`Checked: ${JSON.stringify(audit.checked)}`] : []),
    ...(results.quiet
      ? [`Consumers: ${results.quiet.consumers.length} durable, quiet after ${results.quiet.waitedMs} ms`]
      : []),
    ...results.rebuild.map((r) => `Rebuild of ${r.service}: ${r.equal ? "equal" : "DIFFERENT"} (${r.tables})`),
    ...(results.verify ? [`pot verify: exit ${results.verify.code}, ${results.verify.mismatches} mismatch(es)`] : []),
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
