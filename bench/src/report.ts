import type { CommandResult } from "./commands.js";
import { RPCS, SIGNATURES_PER_GAME, type FullStackResult, type StepResult } from "./full-stack.js";
import type { ProfileSummary } from "./profile.js";
import type { BenchResults, Limits, RebuildResult, Target } from "./results.js";
import { round } from "./stats.js";
import { SERVICES } from "./system.js";

export const TARGETS = {
  rebuildToPipeline: 0.8,
  rebuildPeakRssMb: 300,
  commandsToPing: 0.5,
  gamesPerSecond: 1_000,
  rpcP99Ms: 25,
  visibleP99Ms: 50,
} as const;

const n = (value: number) => Math.round(value).toLocaleString("en-US");
const ms = (value: number) => `${value} ms`;

/** Each target of issue 5 with what this run measured; `met` is undefined when it was not measured. */
export function evaluateTargets(results: Omit<BenchResults, "targets" | "whatLimitsUs">): Target[] {
  const targets: Target[] = [];
  const { fullStack, commands, rebuild, limits } = results;
  if (fullStack) {
    const games = fullStack.saturationGamesPerSecond;
    targets.push({
      name: "full stack: games/s at saturation",
      goal: `>= ${n(TARGETS.gamesPerSecond)}`,
      measured: `${n(games)} (${fullStack.saturationConcurrency} at once)`,
      met: games >= TARGETS.gamesPerSecond,
    });
    const half = fullStack.halfSaturation;
    for (const rpc of RPCS) {
      const p99 = half?.latency[rpc]?.p99;
      targets.push({
        name: `full stack: ${rpc} p99 at half saturation`,
        goal: `< ${ms(TARGETS.rpcP99Ms)}`,
        measured: p99 === undefined ? "not measured" : ms(p99),
        met: p99 === undefined ? undefined : p99 < TARGETS.rpcP99Ms,
      });
    }
    const visible = half?.latency["last reveal -> member visible"]?.p99;
    targets.push({
      name: "full stack: last reveal -> member visible p99 at half saturation",
      goal: `< ${ms(TARGETS.visibleP99Ms)}`,
      measured: visible === undefined ? "not measured" : ms(visible),
      met: visible === undefined ? undefined : visible < TARGETS.visibleP99Ms,
    });
  }
  for (const command of commands ?? []) {
    // The honest denominator: the ping from a client process of its own (limits); the ping measured
    // from the bench process next to the command is shown too (the old denominator).
    const ping = limits?.grpcPingTwoProcess.rate ?? 0;
    const ratio = ping > 0 ? round(command.appendsPerSecond / ping, 3) : command.ratio;
    targets.push({
      name: `commands: ${command.rpc} appends/s vs gRPC ping`,
      goal: `>= ${TARGETS.commandsToPing} x`,
      measured:
        ping > 0
          ? `${ratio} x (${n(command.appendsPerSecond)} / ${n(ping)} two-process ping; ${command.ratio} x the in-process ping's ${n(command.ping.rate)})`
          : `${command.ratio} x (${n(command.appendsPerSecond)} / ${n(command.ping.rate)})`,
      met: ratio >= TARGETS.commandsToPing,
    });
  }
  if (rebuild) {
    for (const run of rebuild.runs) {
      const label = `${run.outcome.service} (${run.outcome.projection}, ${run.outcome.path ?? "runner"}), ${millions(run.logEvents)} log`;
      targets.push({
        name: `rebuild ${label}: rate vs rebuild pipeline`,
        goal: `>= ${TARGETS.rebuildToPipeline} x`,
        measured:
          `${run.ratioToPipeline} x (${n(run.outcome.rate)} / ${n(run.pipelineRate)} events/s` +
          (run.oldPipelineRate
            ? `; ${run.ratioToOldPipeline} x the old 500-row pipeline's ${n(run.oldPipelineRate)})`
            : ")") +
          (run.outcome.complete ? "" : `, stopped after ${n(run.outcome.events)} events`),
        met: run.ratioToPipeline >= TARGETS.rebuildToPipeline,
      });
      targets.push({
        name: `rebuild ${label}: peak RSS`,
        goal: `< ${TARGETS.rebuildPeakRssMb} MB`,
        measured:
          `${run.outcome.peakRssMb} MB` +
          (run.outcome.complete ? "" : ` after ${n(run.outcome.events)} events`) +
          (rssTrend(run.outcome.progress) ? ` (${rssTrend(run.outcome.progress)})` : ""),
        met: run.outcome.complete ? run.outcome.peakRssMb < TARGETS.rebuildPeakRssMb : undefined,
      });
    }
    const [first, ...longer] = [...new Set(rebuild.runs.map((run) => run.logEvents))].sort((a, b) => a - b);
    const longest = longer.at(-1);
    const long = rebuild.runs.find((run) => run.logEvents === longest);
    const short =
      long && rebuild.runs.find((run) => run.logEvents === first && run.outcome.service === long.outcome.service);
    if (long && short) {
      targets.push({
        name: `rebuild ${long.outcome.service}: peak RSS from a ${millions(long.logEvents)} log vs ${millions(short.logEvents)}`,
        goal: `no growth, < ${TARGETS.rebuildPeakRssMb} MB`,
        measured:
          `${long.outcome.peakRssMb} MB vs ${short.outcome.peakRssMb} MB` +
          (long.outcome.complete ? "" : ` (the longer rebuild stopped after ${n(long.outcome.events)} events)`),
        met: long.outcome.complete
          ? long.outcome.peakRssMb < TARGETS.rebuildPeakRssMb &&
            long.outcome.peakRssMb <= short.outcome.peakRssMb * 1.15
          : undefined,
      });
    } else if (rebuild.longerSkipped) {
      targets.push({
        name: "rebuild: peak RSS from a 3x longer log",
        goal: `no growth, < ${TARGETS.rebuildPeakRssMb} MB`,
        measured: `not run: ${rebuild.longerSkipped}`,
        met: undefined,
      });
    }
  }
  return targets;
}

function millions(events: number): string {
  return events >= 1_000_000 ? `${round(events / 1_000_000, 1)}M` : `${round(events / 1_000, 0)}k`;
}

function verdict(met: boolean | undefined): string {
  return met === undefined ? "n/a" : met ? "MET" : "SHORT";
}

/** The console table. */
export function renderTable(results: BenchResults): string {
  const lines: string[] = [];
  const { meta, limits, fullStack, commands, rebuild } = results;
  lines.push(
    `Proof-of-Trust bench (${meta.mode}) ${meta.startedAt}, ${meta.cores} cores (${meta.cpu}), node ${meta.node}, ` +
      `${round(meta.durationMs / 1000, 0)} s`,
  );
  if (limits) {
    lines.push("", "Denominators, old and new (measured in this run)");
    for (const [label, old, now, gain] of denominatorRows(limits)) {
      lines.push(`  ${label.padEnd(22)} old ${old.padEnd(58)} new ${now.padEnd(62)} ${gain}`);
    }
    lines.push("", "Limits measured in this run");
    for (const [label, value] of limitRows(limits)) lines.push(`  ${label.padEnd(70)} ${value}`);
  }
  if (fullStack) {
    lines.push("", "Full stack (closed loop, games back to back)");
    lines.push(
      `  ${"at once".padStart(7)} ${"games/s".padStart(8)} ${"game p50".padStart(9)} ${"game p99".padStart(9)}  CPU % of one core`,
    );
    for (const step of fullStack.steps) lines.push(`  ${stepRow(step)}`);
    if (fullStack.halfSaturation) {
      lines.push(
        "",
        `Latency at half saturation (open loop, ${round(fullStack.halfSaturation.offeredRate ?? 0, 1)} games/s offered)`,
      );
      lines.push(`  ${"".padEnd(38)} ${"p50".padStart(9)} ${"p95".padStart(9)} ${"p99".padStart(9)}`);
      for (const [name, p] of Object.entries(fullStack.halfSaturation.latency)) {
        lines.push(`  ${name.padEnd(38)} ${ms(p.p50).padStart(9)} ${ms(p.p95).padStart(9)} ${ms(p.p99).padStart(9)}`);
      }
    }
  }
  if (commands?.length) {
    lines.push("", "Commands (64 calls at once)");
    for (const command of commands) lines.push(`  ${commandRow(command)}`);
  }
  if (rebuild) {
    lines.push("", "Rebuild (projection runner from zero, own process)");
    for (const run of rebuild.runs) {
      const o = run.outcome;
      lines.push(
        `  ${`${o.service}/${o.projection} (${o.path ?? "runner"}) from ${millions(run.logEvents)}`.padEnd(42)} ${n(o.rate).padStart(8)} events/s` +
          `  ${String(run.ratioToPipeline).padStart(5)} x pipeline  peak RSS ${o.peakRssMb} MB` +
          (o.complete ? "" : `  (stopped after ${n(o.events)} events, ${round(o.ms / 1000, 0)} s)`),
      );
    }
  }
  lines.push("", "Targets");
  for (const target of results.targets) {
    lines.push(
      `  ${verdict(target.met).padEnd(6)} ${target.name.padEnd(72)} ${target.goal.padEnd(10)} ${target.measured}`,
    );
  }
  return lines.join("\n");
}

/**
 * Each denominator the bench divides by, the old way and the new (issue 14): label, old, new, new/old.
 * The rebuild's is measured again on each log next to its rebuild (the rebuild table); this is the
 * one on the limits stream.
 */
export function denominatorRows(limits: Limits): [string, string, string, string][] {
  const gain = (now: number, old: number) => (old > 0 ? `${round(now / old, 2)} x` : "");
  const pipeline = limits.rebuildPipeline;
  return [
    [
      "rebuild pipeline",
      `${n(limits.readUpsertPipeline.rate)} events/s (500 rows/txn, no fold)`,
      `${n(pipeline.rate)} events/s (fold, ${n(pipeline.batch)} events/txn, 1 txn in flight)`,
      gain(pipeline.rate, limits.readUpsertPipeline.rate),
    ],
    [
      "gRPC ping",
      `${n(limits.grpcPing.rate)} calls/s (client in the bench process)`,
      `${n(limits.grpcPingTwoProcess.rate)} calls/s (client process of its own)`,
      gain(limits.grpcPingTwoProcess.rate, limits.grpcPing.rate),
    ],
    [
      "JetStream publish",
      `${n(limits.jetStreamPublish.rate)} msgs/s (js.publish, ${limits.jetStreamPublish.inFlight} in flight)`,
      `${n(limits.jetStreamPipelinedPublish.rate)} msgs/s (pipelined, ${limits.jetStreamPipelinedPublish.inFlight} in flight)`,
      gain(limits.jetStreamPipelinedPublish.rate, limits.jetStreamPublish.rate),
    ],
  ];
}

function limitRows(limits: Limits): [string, string][] {
  return [
    [
      `gRPC ping: grpc.health.v1 Check on the ${limits.grpcPing.target} process, ${limits.grpcPing.concurrency} at once, client in the bench process`,
      `${n(limits.grpcPing.rate)} calls/s`,
    ],
    [
      `gRPC ping: the same, client in a process of its own (two processes)`,
      `${n(limits.grpcPingTwoProcess.rate)} calls/s`,
    ],
    [
      `JetStream publish with acks, js.publish, ${limits.jetStreamPublish.inFlight} in flight (${limits.jetStreamPublish.messageBytes} B)`,
      `${n(limits.jetStreamPublish.rate)} msgs/s`,
    ],
    [
      `JetStream publish with acks, pipelined (reply subjects on one subscription), ${limits.jetStreamPipelinedPublish.inFlight} in flight`,
      `${n(limits.jetStreamPipelinedPublish.rate)} msgs/s`,
    ],
    [
      "JetStream store rate without acks (how the synthetic streams are written)",
      `${n(limits.jetStreamIngest.rate)} msgs/s`,
    ],
    [
      `JetStream ordered-consumer read (${n(limits.jetStreamRead.count)} msgs)`,
      `${n(limits.jetStreamRead.rate)} msgs/s`,
    ],
    [
      `Postgres batched upsert (unnest, ${limits.postgresUpsert.batch} rows + checkpoint per transaction)`,
      `${n(limits.postgresUpsert.rate)} rows/s`,
    ],
    [
      `read + decode + batched upsert pipeline (the old yardstick, ${limits.readUpsertPipeline.batch}/txn)`,
      `${n(limits.readUpsertPipeline.rate)} events/s`,
    ],
    [
      `rebuild pipeline: ordered consumer, decode, fold per entity, unnest upserts, ${n(limits.rebuildPipeline.batch)} events/txn, one txn in flight (${n(limits.rebuildPipeline.count)} events, ${n(limits.rebuildPipeline.rows)} rows)`,
      `${n(limits.rebuildPipeline.rate)} events/s`,
    ],
    [
      "Ed25519 verify, one core: the mechanism's (node:crypto plus its strict checks)",
      `${n(limits.signatureVerify.mechanism)} /s`,
    ],
    ["Ed25519 verify, one core: node:crypto", `${n(limits.signatureVerify.nodeCrypto)} /s`],
  ];
}

function stepRow(step: StepResult): string {
  const game = step.latency["whole game"];
  const cpu = Object.entries(step.usage.processes)
    .map(([name, usage]) => `${name} ${usage.cpuPercent}`)
    .join(", ");
  return (
    `${String(step.concurrency ?? "-").padStart(7)} ${n(step.gamesPerSecond).padStart(8)} ${ms(game.p50).padStart(9)} ` +
    `${ms(game.p99).padStart(9)}  ${cpu}; others ${step.usage.othersCpuPercent}` +
    (step.failed > 0 ? `; ${step.failed} failed: ${step.errors[0] ?? ""}` : "")
  );
}

function commandRow(command: CommandResult): string {
  return (
    `${command.rpc.padEnd(24)} ${n(command.appendsPerSecond).padStart(7)} appends/s  p50 ${ms(command.latency.p50)} ` +
    `p99 ${ms(command.latency.p99)}  ping ${n(command.ping.rate)}/s  ratio ${command.ratio}` +
    (command.failed > 0 ? `  ${command.failed} failed: ${command.errors[0] ?? ""}` : "")
  );
}

/** Reasons for the targets this run missed, drawn from its own measurements and profiles. */
export function whatLimitsUs(results: Omit<BenchResults, "whatLimitsUs">): string[] {
  const notes: string[] = [];
  const { fullStack, profile, commands, rebuild, limits } = results;
  const short = (prefix: string) =>
    results.targets.some((target) => target.name.startsWith(prefix) && target.met === false);

  if (fullStack && (short("full stack") || profile)) {
    const best = fullStack.steps.find((step) => step.concurrency === fullStack.saturationConcurrency);
    if (best) {
      const usage = best.usage;
      const services = Object.entries(usage.processes).sort((a, b) => b[1].cpuPercent - a[1].cpuPercent);
      const perGame = (cpuPercent: number) => round((cpuPercent * 10) / Math.max(1, best.gamesPerSecond), 1);
      notes.push(
        `**Games at saturation** (${n(fullStack.saturationGamesPerSecond)} games/s, ${best.concurrency} at once): the machine was ` +
          `${usage.machineCpuPercent}% busy of ${usage.cores * 100}% (${usage.othersCpuPercent}% of it other work on this shared machine). ` +
          `CPU per game: ${services.map(([name, u]) => `${name} ${perGame(u.cpuPercent)} ms`).join(", ")}; ` +
          `${cpuPerGame(best)} ms in all (the bench's own client included), so ${usage.cores} cores cap the system near ` +
          `${n((usage.cores * 1000) / Math.max(0.001, cpuPerGame(best)))} games/s before any waiting, and ` +
          `${n(TARGETS.gamesPerSecond)} games/s would need at most ${round((usage.cores * 1000) / TARGETS.gamesPerSecond, 1)} ms per game in all.` +
          (limits ? ` ${signatureNote(limits)}` : ""),
      );
    }
    if (profile) {
      for (const [service, summary] of Object.entries(profile.services)) notes.push(profileNote(service, summary));
    }
  }
  if (fullStack?.halfSaturation && short("full stack:") && fullStack.halfSaturation.latency) {
    const half = fullStack.halfSaturation;
    const slow = RPCS.filter((rpc) => (half.latency[rpc]?.p99 ?? 0) >= TARGETS.rpcP99Ms);
    if (slow.length > 0) {
      notes.push(
        `**RPC tails at half saturation**: ${slow.map((rpc) => `${rpc} p50 ${ms(half.latency[rpc].p50)} / p99 ${ms(half.latency[rpc].p99)}`).join("; ")}. ` +
          `A p99 far above the p50 at half load is queueing behind other work on the same event loop (one thread per service) ` +
          `and on the matchmaker's one ledger aggregate, whose commands are decided one at a time (their appends are pipelined).`,
      );
    }
  }
  for (const command of commands ?? []) {
    if (command.ratio >= TARGETS.commandsToPing) continue;
    const service = command.rpc.split(" ")[0] ?? "";
    const verifyCap = limits ? Math.round(limits.signatureVerify.mechanism / command.signatures) : undefined;
    notes.push(
      `**${command.rpc}** reaches ${command.ratio} x the ping of the same process (${n(command.appendsPerSecond)} vs ${n(command.ping.rate)}/s; ` +
        `${service} at ${command.usage.processes[service]?.cpuPercent ?? "?"}% of a core, p50 ${ms(command.latency.p50)}). ${command.note}` +
        (verifyCap === undefined
          ? "."
          : `: at the mechanism's ${n(limits!.signatureVerify.mechanism)} verifications/s, the signature checks alone cap one core at ${n(verifyCap)} calls/s.`),
    );
  }
  if (rebuild && limits) {
    for (const run of rebuild.runs) {
      if (run.ratioToPipeline >= TARGETS.rebuildToPipeline) continue;
      const child = run.usage.processes.rebuild?.cpuPercent ?? 0;
      const pg = run.usage.processes.postgres?.cpuPercent ?? 0;
      const trend = rateTrend(run.outcome.progress);
      const busy = child + pg < 130;
      notes.push(
        `**Rebuild of ${run.outcome.service}/${run.outcome.projection} (${run.outcome.path ?? "runner"})** (${n(run.outcome.rate)} events/s, ${run.ratioToPipeline} x the pipeline): ` +
          `the runner's process used ${child}% of a core and Postgres ${pg}%` +
          (busy
            ? ", about one core between them: the runner prepares the next batch while Postgres writes one, but keeps " +
              "one transaction in flight per projection (order matters), so Node's decoding and Postgres's writing " +
              "share what is left of two cores with the reading. "
            : ". ") +
          (trend ? `${trend} ` : "") +
          (profileOf(rebuild, run.outcome)
            ? `Its profile: ${kinds(profileOf(rebuild, run.outcome)!, 5)}; top functions ${topFunctions(profileOf(rebuild, run.outcome)!, 3)}.`
            : ""),
      );
    }
  }
  return notes;
}

/** The profile of a rebuild (keyed "service (path)"; older results keyed by service alone). */
function profileOf(rebuild: RebuildResult, outcome: { service: string; path?: string }): ProfileSummary | undefined {
  return rebuild.profiles[`${outcome.service} (${outcome.path ?? "runner"})`] ?? rebuild.profiles[outcome.service];
}

function signatureNote(limits: Limits): string {
  const perGame = SIGNATURES_PER_GAME.matchmaker + SIGNATURES_PER_GAME.adjudicator;
  const mechanismMs = round((perGame * 1000) / Math.max(1, limits.signatureVerify.mechanism), 1);
  const nativeMs = round((perGame * 1000) / Math.max(1, limits.signatureVerify.nodeCrypto), 2);
  return (
    `A game checks ${perGame} Ed25519 signatures (matchmaker ${SIGNATURES_PER_GAME.matchmaker}, adjudicator ${SIGNATURES_PER_GAME.adjudicator}): ` +
    `${mechanismMs} ms of CPU per game with the mechanism's verify (${n(limits.signatureVerify.mechanism)}/s on one core), ` +
    `${nativeMs} ms with node:crypto (${n(limits.signatureVerify.nodeCrypto)}/s).`
  );
}

function cpuPerGame(step: StepResult): number {
  const total = Object.values(step.usage.processes).reduce((sum, usage) => sum + usage.cpuPercent, 0);
  return step.gamesPerSecond === 0 ? 0 : round((total * 10) / step.gamesPerSecond, 2);
}

/** RSS when a quarter of the events were applied, and at the end: flat when memory does not grow with the log. */
export function rssTrend(progress: readonly (readonly [number, number, number])[]): string | undefined {
  const last = progress.at(-1);
  if (!last || last[1] === 0) return undefined;
  const quarter = progress.find((point) => point[1] >= last[1] / 4);
  if (!quarter || quarter === last) return undefined;
  return `RSS ${quarter[2]} MB after ${n(quarter[1])} events, ${last[2]} MB after ${n(last[1])}`;
}

/**
 * The samples up to the first within 0.5% of the final count: later ones are after the rebuild
 * proper (a replay's index builds and swap, while its throttled progress stands still).
 */
export function whileApplying(
  progress: readonly (readonly [number, number, number])[],
): readonly (readonly [number, number, number])[] {
  const end = progress.at(-1)?.[1] ?? 0;
  const first = progress.findIndex((point) => point[1] >= end * 0.995);
  return first < 0 ? progress : progress.slice(0, first + 1);
}

function rateTrend(all: readonly (readonly [number, number, number])[]): string | undefined {
  const progress = whileApplying(all);
  if (progress.length < 6) return undefined;
  const rate = (from: number, to: number) => {
    const a = progress[from]!;
    const b = progress[to]!;
    return b[0] === a[0] ? 0 : ((b[1] - a[1]) * 1000) / (b[0] - a[0]);
  };
  const tenth = Math.max(1, Math.floor(progress.length / 10));
  const first = rate(0, tenth);
  const last = rate(progress.length - 1 - tenth, progress.length - 1);
  if (first === 0) return undefined;
  const change = last / first;
  if (change < 0.7) {
    return `Its rate fell from ${n(first)} to ${n(last)} events/s as the tables grew: some statement's cost grows with the table (a scan).`;
  }
  return change > 1.3
    ? `Its rate rose from ${n(first)} to ${n(last)} events/s once started (the first second includes start-up).`
    : `Its rate held steady (${n(first)} events/s at the start, ${n(last)} at the end).`;
}

function profileNote(service: string, summary: ProfileSummary): string {
  return (
    `**${service}** (busy ${round((summary.busyMs / Math.max(1, summary.totalMs)) * 100, 0)}% of the ` +
    `${round(summary.totalMs / 1000, 0)} s profiled): ${kinds(summary, 6)}. Top functions: ${topFunctions(summary, 4)}.`
  );
}

function kinds(summary: ProfileSummary, count: number): string {
  return summary.byKind
    .slice(0, count)
    .map((kind) => `${kind.name} ${kind.selfPercent}%`)
    .join(", ");
}

function topFunctions(summary: ProfileSummary, count: number): string {
  return summary.top
    .slice(0, count)
    .map((fn) => `${fn.name} ${fn.selfPercent}%`)
    .join(", ");
}

/** The Markdown summary written to bench/results/latest.md. */
export function renderMarkdown(results: BenchResults): string {
  const { meta, limits, fullStack, commands, rebuild, profile } = results;
  const out: string[] = [];
  out.push(
    "# Benchmark results",
    "",
    `\`${meta.command}\` (${meta.mode}), ${meta.startedAt}, took ${round(meta.durationMs / 1000, 0)} s. ` +
      `${meta.cores} cores (${meta.cpu}), ${meta.memoryGb} GiB, Node ${meta.node}, commit ${meta.commit}; ` +
      `NATS ${meta.natsUrl}, ${meta.postgres}. Every ratio below divides two numbers measured in this run.`,
    "",
    "## Targets",
    "",
    "| | target | goal | measured |",
    "| --- | --- | --- | --- |",
    ...results.targets.map((t) => `| ${verdict(t.met)} | ${t.name} | ${t.goal} | ${t.measured} |`),
  );
  if (limits) {
    out.push(
      "",
      "## Denominators, old and new",
      "",
      "What each ratio divides by, measured in this run both ways (issue 14): the ratios below use the new ones.",
      "",
      "| denominator | old | new | new / old |",
      "| --- | --- | --- | --- |",
      ...denominatorRows(limits).map(([label, old, now, gain]) => `| ${label} | ${old} | ${now} | ${gain} |`),
    );
    out.push("", "## Limits of this machine, measured in this run", "", "| limit | rate |", "| --- | --- |");
    for (const [label, value] of limitRows(limits)) out.push(`| ${label} | ${value} |`);
    out.push(
      "",
      `The ping is the cheapest unary call a service answers, through the same grpc-js client and server as its commands; ` +
        `its p50/p99 were ${ms(limits.grpcPing.latency.p50)}/${ms(limits.grpcPing.latency.p99)}. ` +
        `During the limits the machine was ${limits.usage.machineCpuPercent}% busy (${limits.usage.othersCpuPercent}% other work).`,
    );
  }
  if (fullStack) out.push(...fullStackMarkdown(fullStack));
  if (commands?.length) {
    out.push(
      "",
      "## Commands",
      "",
      "| RPC | appends/s | p50 | p99 | ping of the same process | ratio | what it appends |",
      "| --- | --- | --- | --- | --- | --- | --- |",
      ...commands.map(
        (c) =>
          `| ${c.rpc} | ${n(c.appendsPerSecond)} | ${ms(c.latency.p50)} | ${ms(c.latency.p99)} | ${n(c.ping.rate)}/s | ${c.ratio} | ${c.note} |`,
      ),
    );
  }
  if (rebuild) out.push(...rebuildMarkdown(rebuild));
  if (profile) {
    out.push(
      "",
      "## Profiles of the services at saturation",
      "",
      `\`--cpu-prof\`-style V8 profiles of each service (preloaded with \`NODE_OPTIONS=--import=bench/dist/cpu-profiler.js\`, ` +
        `since Node 20 refuses \`--cpu-prof\` in NODE_OPTIONS) while ${profile.concurrency} games ran at once for ` +
        `${round(profile.ms / 1000, 0)} s (${n(profile.gamesPerSecond)} games/s, slowed by the profiler). Self time, % of the busy samples:`,
    );
    for (const [service, summary] of Object.entries(profile.services)) {
      out.push("", `### ${service}`, "", "| function | self ms | % |", "| --- | --- | --- |");
      out.push(...summary.top.map((fn) => `| \`${fn.name}\` | ${fn.selfMs} | ${fn.selfPercent} |`));
      out.push("", `By kind of work: ${kinds(summary, 20)}.`);
      out.push("", `By area: ${summary.byArea.map((area) => `${area.name} ${area.selfPercent}%`).join(", ")}.`);
    }
  }
  out.push("", "## What limits us", "");
  out.push(
    ...(results.whatLimitsUs.length > 0 ? results.whatLimitsUs.map((note) => `- ${note}`) : ["Every target was met."]),
  );
  out.push("");
  return out.join("\n");
}

function fullStackMarkdown(fullStack: FullStackResult): string[] {
  const out = [
    "",
    "## Full stack",
    "",
    `${n(fullStack.setup.genesisMembers)} genesis members in pairs, under a bench policy (v${fullStack.setup.policyVersion}) ` +
      `with 1 ms stake period and pair cool-down, so a pair plays again once its last game is settled; set up in ` +
      `${round(fullStack.setup.ms / 1000, 1)} s. A game: Propose, Accept, GameStarted stored, both CommitMove, both RevealMove, ` +
      `MemberAdmitted stored on identity's stream (seen by an ordered consumer), then GetMember with that sequence ` +
      `(the member is in the read model). "last reveal -> member visible" runs from the last RevealMove reply to GetMember's reply.`,
    "",
    "| at once | games/s | game p50 | game p99 | failed | retries | CPU, % of one core | others |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const step of fullStack.steps) {
    const game = step.latency["whole game"];
    const cpu = Object.entries(step.usage.processes)
      .map(([name, usage]) => `${name} ${usage.cpuPercent}`)
      .join(", ");
    out.push(
      `| ${step.concurrency} | ${n(step.gamesPerSecond)} | ${ms(game.p50)} | ${ms(game.p99)} | ${step.failed} | ${step.retries} | ${cpu} | ${step.usage.othersCpuPercent} |`,
    );
  }
  const memory = fullStack.steps.at(-1)?.usage.processes;
  if (memory) {
    out.push(
      "",
      `Peak RSS by the last step: ${SERVICES.map((name) => `${name} ${memory[name]?.peakRssMb ?? "?"} MB`).join(", ")}.`,
    );
  }
  const half = fullStack.halfSaturation;
  if (half) {
    out.push(
      "",
      `### At half saturation (open loop, ${round(half.offeredRate ?? 0, 1)} games/s offered, ${n(half.gamesPerSecond)} completed/s)`,
      "",
      "| measure | p50 | p95 | p99 | max | count |",
      "| --- | --- | --- | --- | --- | --- |",
      ...Object.entries(half.latency).map(
        ([name, p]) => `| ${name} | ${ms(p.p50)} | ${ms(p.p95)} | ${ms(p.p99)} | ${ms(p.max)} | ${p.count} |`,
      ),
    );
  }
  return out;
}

function rebuildMarkdown(rebuild: RebuildResult): string[] {
  const out = [
    "",
    "## Rebuild",
    "",
    "Synthetic streams of valid envelopes (the services' own codecs; one game's events after another), then the " +
      "service's real projection caught up from zero by the projection runner in a process of its own.",
    "",
    "| stream | events | written at |",
    "| --- | --- | --- |",
    ...rebuild.streams.map((s) => `| ${s.service} | ${n(s.events)} | ${n(s.publishRate)} events/s |`),
    "",
    "Just before each rebuild (same machine state) the rebuild pipeline replays the same log (up to 1M events), and the old " +
      "500-row pipeline the limits stream; read and upsert are the limits above.",
    "",
    "| projections | log | events applied | events/s | pipeline | x pipeline | old pipeline | x old | x read | x upsert | peak RSS | RSS as it went | runner CPU | Postgres CPU |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const run of rebuild.runs) {
    const o = run.outcome;
    out.push(
      `| ${o.service}/${o.projection} (${o.path ?? "runner"}) | ${n(run.logEvents)} | ${n(o.events)}${o.complete ? "" : " (stopped)"} | ${n(o.rate)} | ${n(run.pipelineRate)} | ` +
        `${run.ratioToPipeline} | ${n(run.oldPipelineRate)} | ${run.ratioToOldPipeline} | ${run.ratioToRead} | ${run.ratioToUpsert} | ${o.peakRssMb} MB | ${rssTrend(o.progress) ?? ""} | ` +
        `${run.usage.processes.rebuild?.cpuPercent ?? "?"}% | ${run.usage.processes.postgres?.cpuPercent ?? "?"}% |`,
    );
  }
  return out;
}
