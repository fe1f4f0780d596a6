import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { retargetStakePeriod } from "@pot/adjudicator/domain";
import {
  ATTACKER_STRATEGIES,
  DAY,
  withRateTarget,
  DEFAULT_SIMULATION,
  HOUR,
  keyFromSeed,
  POLICIES,
  samplesCsv,
  Simulation,
  strategiesCsv,
  outputFiles,
  type AttackerStrategy,
  type SimulationConfig,
} from "./index.js";

function config(overrides: Partial<SimulationConfig> = {}, policy = "default"): SimulationConfig {
  const named = POLICIES[policy]!;
  return {
    ...DEFAULT_SIMULATION,
    policyName: named.name,
    policy: named.policy,
    policyFromLog: named.fromLog,
    honest: 40,
    groups: Object.fromEntries(ATTACKER_STRATEGIES.map((s) => [s, 1])) as Record<AttackerStrategy, number>,
    days: 56,
    maxGroupIdentities: 150,
    ...overrides,
  };
}

/** A well-formedness check without an XML library: balanced tags, one root <svg>, finite coordinates. */
function assertWellFormedSvg(svg: string): void {
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>/);
  assert.match(svg, /<\/svg>\n$/);
  assert.doesNotMatch(svg, /NaN|Infinity|undefined/);
  const stack: string[] = [];
  for (const match of svg.matchAll(/<(\/?)([a-z]+)\b[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = match;
    if (selfClosing) continue;
    if (closing) assert.equal(stack.pop(), name, `</${name}> closes what it did not open`);
    else stack.push(name!);
  }
  assert.deepEqual(stack, [], "every tag is closed");
  for (const points of svg.matchAll(/points="([^"]*)"/g)) {
    for (const pair of points[1]!.split(" ")) assert.match(pair, /^-?\d+\.\d,-?\d+\.\d$/);
  }
}

function assertWellFormedCsv(csv: string): string[][] {
  assert.ok(csv.endsWith("\n"));
  const rows = csv
    .trimEnd()
    .split("\n")
    .map((line) => line.split(","));
  const width = rows[0]!.length;
  for (const row of rows) assert.equal(row.length, width, `row ${row.join(",")} has ${row.length} cells`);
  return rows;
}

describe("simulation", () => {
  test("the same seed gives the same run; another seed another run", () => {
    const first = new Simulation(config({ seed: 7, days: 42 })).run();
    const again = new Simulation(config({ seed: 7, days: 42 })).run();
    assert.equal(samplesCsv(again), samplesCsv(first));
    assert.equal(strategiesCsv(again), strategiesCsv(first));
    assert.deepEqual(again.outcomes, first.outcomes);
    assert.deepEqual(again.honest, first.honest);
    const other = new Simulation(config({ seed: 8, days: 42 })).run();
    assert.notEqual(samplesCsv(other), samplesCsv(first));
  });

  test("honest members admit genuine candidates through real games: sponsored members with two sponsors", () => {
    const sim = new Simulation(config({ groups: {}, honest: 30, days: 28, honestGrowthPerYear: 6 }));
    const result = sim.run();
    assert.ok(result.honest.admitted > 0, "some candidates were admitted");
    assert.equal(result.honest.membersEnd, 30 + result.honest.admitted);
    assert.ok((result.outcomes["both-cooperated"] ?? 0) >= result.honest.admitted);
    const sponsored = [...sim.world.members.values()].flatMap((m) =>
      m.status === "active" && m.kind === "sponsored" ? [m] : [],
    );
    assert.equal(sponsored.length, result.honest.admitted);
    for (const member of sponsored) assert.equal(member.sponsorIds.length, 2);
  });

  test("legacy policy: the self-play farm grows exponentially from 2 identities, far above 2 + 2 per stake period", () => {
    const result = new Simulation(
      config({ groups: { "self-play-farm": 1 }, honest: 20, days: 91, maxGroupIdentities: 200 }, "legacy"),
    ).run();
    const farm = result.strategies.find((s) => s.strategy === "self-play-farm")!;
    assert.equal(result.stakePeriods, 13);
    assert.equal(farm.bound, 2 + 2 * 13);
    assert.ok(farm.maxGroup > farm.bound, `farm reached ${farm.maxGroup}`);
    assert.ok(farm.byCredits > farm.bound);
  });

  test("griefers cost their partners a stake but gain no identity, and honest members shun them after one no-show", () => {
    const result = new Simulation(config({ groups: { griefer: 3 }, honest: 30, days: 120 })).run();
    const griefers = result.strategies.find((s) => s.strategy === "griefer")!;
    assert.equal(griefers.end, griefers.start);
    // Each griefer identity can be caught out at most once: after a no-show the board marks it.
    assert.ok((result.outcomes["no-show"] ?? 0) <= griefers.start);
  });

  test("the CSV and SVG files are well formed", () => {
    const result = new Simulation(config({ days: 35 })).run();
    const files = outputFiles(result);
    assert.deepEqual(Object.keys(files).sort(), [
      "default-attackers.svg",
      "default-honest.svg",
      "default-identities.svg",
      "default-strategies.csv",
      "default-timeseries.csv",
    ]);
    const series = assertWellFormedCsv(files["default-timeseries.csv"]!);
    assert.equal(series[0]![0], "day");
    assert.equal(series.length, 1 + 5, "a row every 7 days for 35 days");
    for (const row of series.slice(1)) for (const cell of row) assert.ok(Number.isFinite(Number(cell)), cell);
    const strategies = assertWellFormedCsv(files["default-strategies.csv"]!);
    assert.equal(strategies.length, 1 + ATTACKER_STRATEGIES.length);
    for (const name of ["default-attackers.svg", "default-honest.svg", "default-identities.svg"]) {
      assertWellFormedSvg(files[name]!);
    }
  });

  test("agents check the growth rules first: the deciders refuse none of their proposals or acceptances", () => {
    for (const policy of ["default", "legacy"]) {
      const result = new Simulation(config({ seed: 11, days: 120, honestGrowthPerYear: 3 }, policy)).run();
      assert.ok(result.gamesOpened > 50, `${policy}: ${result.gamesOpened} games`);
      assert.deepEqual(result.refusals, {}, `${policy}: refused ${JSON.stringify(result.refusals)}`);
      assert.deepEqual(result.refusedActs, {});
    }
  });

  test("what the agents' pre-check allows, the matchmaker's deciders open; the rules do rule some pairs out", () => {
    const sim = new Simulation(config({ seed: 5, days: 200, honestGrowthPerYear: 3 }));
    while (sim.day < 60) sim.step();
    const now = sim.now + HOUR;
    const active = sim.everyone.filter((a) => a.active);
    let opened = 0;
    let ruledOut = 0;
    for (let i = 0; i < 400; i++) {
      const proposer = active[sim.rng.int(active.length)]!;
      const partner = active[sim.rng.int(active.length)]!;
      if (!sim.wouldOpen(proposer.key.id, partner.key.id, now)) {
        ruledOut++;
        continue;
      }
      const candidate = keyFromSeed(sim.rng.bytes(32));
      const proposalId = `00000000-0000-4000-8000-${(900_000 + i).toString(16).padStart(12, "0")}`;
      assert.equal(sim.world.propose(proposer.key, partner.key.id, proposalId, candidate, now), undefined);
      assert.equal(sim.world.answer("accept", partner.key, proposalId, now + HOUR), undefined);
      opened++;
      // The game holds both sponsors' stakes: the pre-check now says no for either of them.
      assert.equal(sim.wouldOpen(proposer.key.id, partner.key.id, now + DAY), false);
    }
    assert.ok(opened > 0, "some pairs could open a game");
    assert.ok(ruledOut > 0, "some pairs were ruled out");
  });

  test("honest members are 70 % of the network: at least 90 % of their candidates are admitted within two TTLs", () => {
    const result = new Simulation(
      config({
        seed: 2027,
        honest: 140,
        groups: Object.fromEntries(ATTACKER_STRATEGIES.map((s) => [s, 5])) as Record<AttackerStrategy, number>,
        days: 182,
        maxGroupIdentities: 50,
      }),
    ).run();
    assert.ok(result.honest.eligible >= 20, `${result.honest.eligible} candidates`);
    assert.ok(result.honest.shareWithinTwoTtls >= 0.9, `${result.honest.shareWithinTwoTtls}`);
  });

  test("under a rate target the simulated adjudicator retargets every ended interval and the matchmaker locks new games for it", () => {
    const scenario = {
      admissionsPerInterval: 2,
      intervalMs: 7 * DAY,
      maxStepPercent: 50,
      stakePeriodMs: 14 * DAY,
      maxStakePeriodMs: 200 * DAY,
    };
    const base = POLICIES.default!.policy;
    const sim = new Simulation(
      config({ groups: {}, honest: 40, days: 63, honestGrowthPerYear: 8, policy: withRateTarget(base, scenario) }),
    );
    const result = sim.run();
    // Intervals are whole weeks of Unix time; the first one starts at or after the publication (day 0).
    const first = Math.ceil(sim.world.policies.publishedAt / scenario.intervalMs);
    const ended = Math.floor(sim.now / scenario.intervalMs) - first;
    assert.equal(result.retargets.length, ended);
    let period = scenario.stakePeriodMs;
    for (const [i, r] of result.retargets.entries()) {
      assert.equal(r.interval, first + i);
      assert.equal(r.oldStakePeriodMs, period);
      assert.equal(r.newStakePeriodMs, retargetStakePeriod(sim.policy.rateTarget, period, r.admissions));
      period = r.newStakePeriodMs;
    }
    assert.ok(
      result.retargets.some((r) => r.newStakePeriodMs !== r.oldStakePeriodMs),
      "the period moved",
    );
    assert.equal(sim.world.ledger.stakePeriod?.stakePeriodMs, period, "the matchmaker adopted the last one");
    assert.equal(result.samples.at(-1)!.stakePeriodDays, period / DAY);
    const files = outputFiles(result);
    assert.ok(files["default-retargets.csv"]!.startsWith("interval,start_day,end_day,admissions,target"));
    assertWellFormedCsv(files["default-retargets.csv"]!);
    assertWellFormedSvg(files["default-rate.svg"]!);
  });
});
