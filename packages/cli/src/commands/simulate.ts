import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { InvalidArgumentError, Option, type Command } from "commander";
import type { AttackerStrategy } from "@pot/simulator";
import { usageError } from "../exit-codes.js";
import { positiveInteger } from "../parsers.js";
import type { Wrap } from "../program.js";

function share(value: string): number {
  const number = Number(value);
  if (value.trim() === "" || !Number.isFinite(number) || number < 0 || number > 1) {
    throw new InvalidArgumentError("must be a number from 0 to 1.");
  }
  return number;
}

function nonNegative(value: string): number {
  const number = Number(value);
  if (value.trim() === "" || !Number.isFinite(number) || number < 0 || number > 100) {
    throw new InvalidArgumentError("must be a number from 0 to 100.");
  }
  return number;
}

function wholeNumber(value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(number)) throw new InvalidArgumentError("must be a whole number.");
  return number;
}

export function registerSimulate(program: Command, wrap: Wrap): void {
  program
    .command("simulate")
    .description(
      "simulate a network of honest members and attackers over the services' real deciders (no servers, a simulated clock); prints a table and writes CSV and SVG files",
    )
    .addOption(
      new Option("--policy <name>", "the policy to simulate").choices(["default", "legacy"]).default("default"),
    )
    .addOption(new Option("--members <n>", "genesis members").argParser(positiveInteger).default(10_000))
    .addOption(
      new Option("--honest-share <share>", "share of the genesis members that is honest (the rest: attackers)")
        .argParser(share)
        .default(0.7),
    )
    .addOption(
      new Option(
        "--strategies <list>",
        "comma-separated attacker strategies sharing the attacker members (default: all six)",
      ),
    )
    .addOption(
      new Option("--group-size <n>", "colluding identities per attacker group at start")
        .argParser(positiveInteger)
        .default(2),
    )
    .addOption(new Option("--days <n>", "simulated days").argParser(positiveInteger).default(730))
    .addOption(
      new Option("--seed <n>", "random seed: the same seed gives the same run").argParser(wholeNumber).default(1),
    )
    .addOption(
      new Option("--demand <n>", "genuine candidates per honest member per year").argParser(nonNegative).default(0.5),
    )
    .addOption(
      new Option("--detection <p>", "probability that an honest co-sponsor recognises a fake candidate")
        .argParser(share)
        .default(0.8),
    )
    .addOption(
      new Option(
        "--max-group <n>",
        "identities at which an attacker group is stopped (exponential growth is cut there)",
      )
        .argParser(positiveInteger)
        .default(1_000),
    )
    .addOption(new Option("--out <dir>", "where to write the CSV and SVG files").default("simulation"))
    .action(
      wrap(async (ctx, _args, options) => {
        const simulator = await import("@pot/simulator");
        const named = simulator.POLICIES[String(options.policy)];
        if (!named) throw usageError(`unknown policy '${String(options.policy)}'`);
        const strategies = options.strategies
          ? String(options.strategies)
              .split(",")
              .map((s) => s.trim())
              .filter(Boolean)
          : [...simulator.ATTACKER_STRATEGIES];
        const unknown = strategies.filter((s) => !simulator.isAttackerStrategy(s));
        if (unknown.length > 0) {
          throw usageError(
            `unknown attacker strateg${unknown.length === 1 ? "y" : "ies"} ${unknown.join(", ")} (--strategies takes ${simulator.ATTACKER_STRATEGIES.join(", ")})`,
          );
        }
        const members = options.members as number;
        const groupSize = options.groupSize as number;
        const honest = Math.round(members * (options.honestShare as number));
        const groupsTotal = Math.floor((members - honest) / groupSize);
        const groups: Partial<Record<AttackerStrategy, number>> = {};
        strategies.forEach((strategy, index) => {
          groups[strategy as AttackerStrategy] =
            Math.floor(groupsTotal / strategies.length) + (index < groupsTotal % strategies.length ? 1 : 0);
        });
        if (honest < 2) throw usageError("at least two honest genesis members are needed (--members, --honest-share)");
        const config = {
          ...simulator.DEFAULT_SIMULATION,
          seed: options.seed as number,
          policyName: named.name,
          policy: named.policy,
          policyFromLog: named.fromLog,
          days: options.days as number,
          honest,
          groups,
          groupSize,
          honestGrowthPerYear: options.demand as number,
          detection: options.detection as number,
          maxGroupIdentities: options.maxGroup as number,
        };
        const started = performance.now();
        const cpuStarted = process.cpuUsage();
        const result = new simulator.Simulation(config).run();
        const cpu = process.cpuUsage(cpuStarted);
        const timing = { wallMs: performance.now() - started, cpuMs: (cpu.user + cpu.system) / 1000 };
        const dir = resolve(String(options.out));
        mkdirSync(dir, { recursive: true });
        const files = simulator.outputFiles(result);
        for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
        const { samples: _samples, config: _config, ...rest } = result;
        ctx.out.result(simulator.summary(result, timing), {
          ...rest,
          policy: named.name,
          seed: config.seed,
          elapsedMs: Math.round(timing.wallMs),
          cpuMs: Math.round(timing.cpuMs),
          files: Object.keys(files).map((name) => join(dir, name)),
        });
        ctx.out.hint(`wrote ${Object.keys(files).length} files to ${dir}: ${Object.keys(files).join(", ")}`);
      }),
    );
}
