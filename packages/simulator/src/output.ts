import {
  ATTACKER_STRATEGIES,
  DAY,
  SIMULATION_START,
  type SimulationResult,
  type StrategySummary,
} from "./simulation.js";
import { lineChart } from "./svg.js";

/** A plain-text table with right-aligned numbers; `markdown` draws it as a GitHub table. */
export function table(
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  markdown = false,
): string {
  const cells = rows.map((row) => row.map((cell) => (typeof cell === "number" ? formatNumber(cell) : cell)));
  if (markdown) {
    const line = (row: readonly string[]) => `| ${row.join(" | ")} |`;
    return [line(header), line(header.map(() => "---")), ...cells.map(line)].join("\n") + "\n";
  }
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const numeric = header.map((_, i) => rows.every((row) => typeof row[i] === "number"));
  const pad = (row: readonly string[]) =>
    row
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [pad(header), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(pad)].join("\n") + "\n";
}

export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return n.toLocaleString("en-US");
  return n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2);
}

export const percent = (share: number) => `${(share * 100).toFixed(1)} %`;

/** Whether a strategy stayed within its linear bound. */
export function verdict(s: StrategySummary): string {
  if (s.capped) return "ABOVE: cut at the group cap";
  if (!s.withinBound) return "ABOVE";
  return s.stopped ? "within until all attackers were stopped" : "within";
}

/** The attacker rows: identities per strategy against the linear bound. */
export function attackerTable(result: SimulationResult, markdown = false): string {
  return table(
    [
      "attacker strategy",
      "groups",
      "identities at start",
      "at end",
      "largest group",
      "bound per group",
      "verdict",
      "by games",
      "by credits",
    ],
    result.strategies.map((s) => [
      s.strategy,
      s.groups,
      s.start,
      s.end,
      s.maxGroup,
      s.bound,
      verdict(s),
      s.byGames,
      s.byCredits,
    ]),
    markdown,
  );
}

export function honestTable(result: SimulationResult, markdown = false): string {
  const h = result.honest;
  return table(
    ["honest members (start -> end)", "candidates", "admitted", "within 2 TTLs", "median wait (d)", "p90 wait (d)"],
    [
      [
        `${formatNumber(h.membersStart)} -> ${formatNumber(h.membersEnd)}`,
        h.candidates,
        h.admitted,
        `${percent(h.shareWithinTwoTtls)} (${formatNumber(h.admittedWithinTwoTtls)}/${formatNumber(h.eligible)})`,
        h.medianWaitDays,
        h.p90WaitDays,
      ],
    ],
    markdown,
  );
}

/** What `pot simulate` prints. */
/** How long a run took: wall-clock time, and the CPU time the process spent (user + system). */
export interface RunTiming {
  readonly wallMs: number;
  readonly cpuMs: number;
}

export function summary(result: SimulationResult, timing?: RunTiming): string {
  const c = result.config;
  const lines: string[] = [];
  lines.push(
    `policy ${c.policyName}, seed ${c.seed}, ${formatNumber(c.days)} days (${result.stakePeriods} stake periods), ` +
      `${formatNumber(result.samples[0] ? result.members - (result.samples.at(-1)!.members - result.members) : result.members)} members at the end`,
  );
  lines.length = 0;
  lines.push(
    `policy ${c.policyName}, seed ${c.seed}, ${formatNumber(c.days)} days = ${result.stakePeriods} stake periods; ` +
      `${formatNumber(c.honest + c.deniers + Object.values(c.groups).reduce((a, b) => a + (b ?? 0), 0) * c.groupSize)} genesis members, ` +
      `${formatNumber(result.members)} at the end; detection ${c.detection}, honest demand ${c.honestGrowthPerYear}/member/year`,
  );
  lines.push("");
  if (result.strategies.length > 0) lines.push(attackerTable(result));
  lines.push(honestTable(result));
  const outcomes = Object.entries(result.outcomes)
    .map(([k, v]) => `${k} ${formatNumber(v)}`)
    .join(", ");
  lines.push(`games opened ${formatNumber(result.gamesOpened)}; resolved: ${outcomes || "none"}`);
  const refusals = Object.entries(result.refusals)
    .map(([k, v]) => `${k} ${formatNumber(v)}`)
    .join(", ");
  lines.push(`refused by the deciders: ${refusals || "none"}`);
  lines.push(
    `events decided ${formatNumber(result.events)}` +
      (timing !== undefined
        ? `; ${(timing.wallMs / 1000).toFixed(1)} s wall time, ${(timing.cpuMs / 1000).toFixed(1)} s CPU time`
        : ""),
  );
  return lines.join("\n") + "\n";
}

function csvCell(value: string | number): string {
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The time series, one row per sample. */
export function samplesCsv(result: SimulationResult): string {
  const header = [
    "day",
    "members",
    "genesis",
    "sponsored",
    "tainted",
    "controlled",
    "excluded",
    "honest",
    ...ATTACKER_STRATEGIES,
    "candidates_arrived",
    "candidates_admitted",
    "candidates_waiting",
    "admissions_per_day",
    "mean_wait_days",
    "stake_period_days",
  ];
  const rows = result.samples.map((s) => [
    s.day,
    s.members,
    s.genesis,
    s.sponsored,
    s.tainted,
    s.controlled,
    s.excluded,
    s.honest,
    ...ATTACKER_STRATEGIES.map((k) => s.attackers[k]),
    s.candidatesArrived,
    s.candidatesAdmitted,
    s.candidatesWaiting,
    +s.admissionsPerDay.toFixed(4),
    +s.meanWaitDays.toFixed(4),
    +s.stakePeriodDays.toFixed(4),
  ]);
  return [header, ...rows].map((row) => row.map(csvCell).join(",")).join("\n") + "\n";
}

/** The per-strategy summary as CSV. */
export function strategiesCsv(result: SimulationResult): string {
  const header = [
    "strategy",
    "groups",
    "start",
    "end",
    "largest_group",
    "bound",
    "within_bound",
    "capped",
    "stopped",
    "by_games",
    "by_credits",
  ];
  const rows = result.strategies.map((s) => [
    s.strategy,
    s.groups,
    s.start,
    s.end,
    s.maxGroup,
    s.bound,
    String(s.withinBound),
    String(s.capped),
    String(s.stopped),
    s.byGames,
    s.byCredits,
  ]);
  return [header, ...rows].map((row) => row.map(csvCell).join(",")).join("\n") + "\n";
}

/** The adjudicator's retargets of the stake period, one row per interval (a policy with a rate target). */
export function retargetsCsv(result: SimulationResult): string {
  const header = [
    "interval",
    "start_day",
    "end_day",
    "admissions",
    "target",
    "old_stake_period_days",
    "new_stake_period_days",
  ];
  const day = (ms: number) => +((ms - SIMULATION_START) / DAY).toFixed(4);
  const rows = result.retargets.map((r) => [
    r.interval,
    day(r.intervalStartMs),
    day(r.intervalEndMs),
    r.admissions,
    r.targetAdmissions,
    +(r.oldStakePeriodMs / DAY).toFixed(4),
    +(r.newStakePeriodMs / DAY).toFixed(4),
  ]);
  return [header, ...rows].map((row) => row.map(csvCell).join(",")).join("\n") + "\n";
}

/** Admissions per interval against the target, and the stake period retargeted after each interval. */
export function rateChart(result: SimulationResult, title?: string): string {
  const day = (ms: number) => (ms - SIMULATION_START) / DAY;
  return lineChart({
    title: title ?? `Rate targeting (policy ${result.config.policyName})`,
    xLabel: "day",
    yLabel: "admissions per interval / days",
    series: [
      {
        name: "admissions per interval",
        points: result.retargets.map((r) => [day(r.intervalEndMs), r.admissions] as const),
      },
      { name: "target", points: result.retargets.map((r) => [day(r.intervalEndMs), r.targetAdmissions] as const) },
      {
        name: "stake period (days)",
        points: result.retargets.map((r) => [day(r.intervalEndMs), r.newStakePeriodMs / DAY] as const),
      },
    ],
  });
}

export function identitiesChart(result: SimulationResult, title?: string): string {
  const kinds = ["genesis", "sponsored", "tainted", "controlled", "excluded"] as const;
  return lineChart({
    title: title ?? `Identities by kind (policy ${result.config.policyName})`,
    xLabel: "day",
    yLabel: "identities",
    series: kinds.map((kind) => ({ name: kind, points: result.samples.map((s) => [s.day, s[kind]] as const) })),
  });
}

export function attackersChart(result: SimulationResult, title?: string, logY = true): string {
  const present = ATTACKER_STRATEGIES.filter((s) => (result.config.groups[s] ?? 0) > 0);
  return lineChart({
    title: title ?? `Attacker identities per strategy (policy ${result.config.policyName})`,
    xLabel: "day",
    yLabel: "identities",
    logY,
    series: present.map((strategy) => ({
      name: strategy,
      points: result.samples.map((s) => [s.day, s.attackers[strategy]] as const),
    })),
  });
}

export function honestChart(result: SimulationResult, title?: string): string {
  return lineChart({
    title: title ?? `Honest admissions (policy ${result.config.policyName})`,
    xLabel: "day",
    yLabel: "per day / days",
    series: [
      { name: "admitted per day", points: result.samples.map((s) => [s.day, s.admissionsPerDay] as const) },
      { name: "mean wait (days)", points: result.samples.map((s) => [s.day, s.meanWaitDays] as const) },
    ],
  });
}

/** Every file `pot simulate` writes, by name. */
export function outputFiles(result: SimulationResult): Record<string, string> {
  const name = result.config.policyName;
  return {
    [`${name}-timeseries.csv`]: samplesCsv(result),
    [`${name}-strategies.csv`]: strategiesCsv(result),
    [`${name}-identities.svg`]: identitiesChart(result),
    [`${name}-attackers.svg`]: attackersChart(result),
    [`${name}-honest.svg`]: honestChart(result),
    // Under a rate target: the retargets and their chart.
    ...(result.retargets.length > 0
      ? { [`${name}-retargets.csv`]: retargetsCsv(result), [`${name}-rate.svg`]: rateChart(result) }
      : {}),
  };
}
