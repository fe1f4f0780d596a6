export { buildProgram, run, type Handler, type Wrap } from "./program.js";
export { CliError, describeError, EXIT, exitCodeForStatus, oneLine, type ExitCode } from "./exit-codes.js";
export { Context, DEFAULTS, settingsFrom, type Settings } from "./context.js";
export { Output, processIo, type Io } from "./output.js";
export {
  admissionLabel,
  describeAction,
  enumLabel,
  formatDuration,
  formatInstant,
  gameLines,
  memberLines,
  memberRows,
  memberStatusLabel,
  messageJson,
  moveLabel,
  outcomeLabel,
  phaseLabel,
  policyLines,
  proposalLines,
  stakeLines,
  stakeRows,
  table,
} from "./format.js";
export { merge } from "./commands/events.js";
export { chooseMove, pairUp, seededRandom, shuffle, STRATEGIES, type StrategyName } from "./demo/strategies.js";
export { DEMO_POLICY, runDemo, type DemoOptions, type DemoResult } from "./demo/demo.js";
