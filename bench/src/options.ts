export const SECTIONS = ["limits", "full", "commands", "profile", "rebuild"] as const;
import { SERVICES } from "./system.js";

type SynthServiceName = (typeof SERVICES)[number];
export type Section = (typeof SECTIONS)[number];

export interface BenchOptions {
  readonly quick: boolean;
  readonly sections: ReadonlySet<Section>;
  /** Write bench/results/latest.{json,md} (off when only some sections run, unless --write). */
  readonly write: boolean;
  /** Each limit is measured for this long. */
  readonly limitMs: number;
  /** Closed-loop concurrencies tried until the games rate saturates. */
  readonly concurrencies: readonly number[];
  /** Length of each concurrency step (after a warm-up of warmupMs). */
  readonly stepMs: number;
  readonly warmupMs: number;
  /** Length of the open-loop run at half the saturation rate. */
  readonly halfRateMs: number;
  /** Length of each command-rate measurement. */
  readonly commandMs: number;
  /** Games held in the commit phase for the CommitMove rate (two commits each). */
  readonly commitGames: number;
  /** Length of the profiled run at saturation. */
  readonly profileMs: number;
  /** Events the ideal-projection pipeline reads each time it is measured. */
  readonly pipelineEvents: number;
  /** Stream lengths the projections are rebuilt from (each in its own process). */
  readonly rebuildEvents: readonly number[];
  /** The rebuilds measured: `pot replay`'s, and the live projection runner catching up from zero. */
  readonly rebuildPaths: readonly ("replay" | "runner")[];
  /** The services whose read models are rebuilt. */
  readonly rebuildServices: readonly SynthServiceName[];
  /** Rebuild the longer log even when it does not fit the run's time budget. */
  readonly long: boolean;
  /** Most time one rebuild may take before it is stopped and reported as incomplete. */
  readonly rebuildTimeoutMs: number;
}

const USAGE = `usage: npm run bench [-- --quick] [--only <${SECTIONS.join(",")}>] [--write] [--long] [--rebuild <services>]
  --quick    smaller counts and shorter steps (under 2 minutes); writes results/quick.*
  --only     run some sections; printed, and written to results/partial.* with --write
  --long     rebuild the 3M-event log even when it does not fit the 14-minute budget
  --rebuild  the services whose read models are rebuilt (default ${SERVICES.join(",")})
  --paths    the rebuilds measured: replay (pot replay's), runner (the live projection runner from zero); default replay`;

export function parseOptions(argv: readonly string[]): BenchOptions {
  let quick = false;
  let only: Section[] | undefined;
  let write: boolean | undefined;
  let long = false;
  let rebuildServices: SynthServiceName[] = [...SERVICES];
  let rebuildPaths: ("replay" | "runner")[] = ["replay"];
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    if (arg === "--quick") quick = true;
    else if (arg === "--write") write = true;
    else if (arg === "--long") long = true;
    else if (arg === "--rebuild") {
      const list = (argv[++index] ?? "").split(",").filter(Boolean);
      const unknown = list.filter((name) => !(SERVICES as readonly string[]).includes(name));
      if (list.length === 0 || unknown.length > 0)
        throw new UsageError(`--rebuild: unknown service(s) ${unknown.join(", ")}`);
      rebuildServices = list as SynthServiceName[];
    } else if (arg === "--paths") {
      const list = (argv[++index] ?? "").split(",").filter(Boolean);
      const unknown = list.filter((name) => name !== "replay" && name !== "runner");
      if (list.length === 0 || unknown.length > 0)
        throw new UsageError(`--paths: unknown path(s) ${unknown.join(", ")}`);
      rebuildPaths = [...new Set(list)] as ("replay" | "runner")[];
    } else if (arg === "--only") {
      const list = (argv[++index] ?? "").split(",").filter(Boolean);
      const unknown = list.filter((name) => !(SECTIONS as readonly string[]).includes(name));
      if (list.length === 0 || unknown.length > 0)
        throw new UsageError(`--only: unknown section(s) ${unknown.join(", ")}`);
      only = list as Section[];
    } else if (arg === "--help" || arg === "-h") throw new UsageError("");
    else throw new UsageError(`unknown argument ${arg}`);
  }
  const sections = new Set<Section>(only ?? SECTIONS);
  const common = { quick, sections, write: write ?? only === undefined, long, rebuildServices, rebuildPaths };
  return quick
    ? {
        ...common,
        limitMs: 1_000,
        concurrencies: [2, 8, 32],
        stepMs: 3_000,
        warmupMs: 1_000,
        halfRateMs: 3_000,
        commandMs: 2_000,
        commitGames: 150,
        profileMs: 3_000,
        pipelineEvents: 25_000,
        rebuildEvents: [100_000],
        rebuildTimeoutMs: 20_000,
      }
    : {
        ...common,
        limitMs: 4_000,
        concurrencies: [1, 2, 4, 8, 16, 32, 64, 128, 256],
        stepMs: 4_000,
        warmupMs: 1_000,
        halfRateMs: 10_000,
        commandMs: 5_000,
        commitGames: 1_000,
        profileMs: 10_000,
        pipelineEvents: 100_000,
        rebuildEvents: [1_000_000, 3_000_000],
        rebuildTimeoutMs: 180_000,
      };
}

export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly usage = USAGE;
}
