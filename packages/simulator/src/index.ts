export { Random } from "./random.js";
export { keyFromSeed, signWith, type SimKey } from "./keys.js";
export {
  CONSENT_VALIDITY_MS,
  type GameResolved,
  type MemberAdmitted,
  type MemberExcluded,
  type Refusal,
  World,
  type WorldObserver,
} from "./world.js";
export { type MemberKind, type PublicRecord, TrustBoard, type TrustEdge } from "./trust.js";
export {
  ATTACKER_STRATEGIES,
  type AttackerStrategy,
  DAY,
  DEFAULT_SIMULATION,
  type HonestSummary,
  HOUR,
  isAttackerStrategy,
  type Sample,
  Simulation,
  SIMULATION_START,
  type SimulationConfig,
  type SimulationResult,
  type Strategy,
  type StrategySummary,
} from "./simulation.js";
export { type ChartOptions, lineChart, niceTicks, type Series } from "./svg.js";
export {
  attackersChart,
  attackerTable,
  formatNumber,
  honestChart,
  honestTable,
  identitiesChart,
  outputFiles,
  percent,
  rateChart,
  retargetsCsv,
  type RunTiming,
  samplesCsv,
  strategiesCsv,
  summary,
  table,
  verdict,
} from "./output.js";
export { type NamedPolicy, POLICIES, type RateTargetScenario, withRateTarget } from "./policies.js";
export { mechanismReport, REPORT_SEED } from "./report.js";
