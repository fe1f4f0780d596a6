export { actionKindOf, type ActionSpec, type Move, type Outcome, type Side, type Sponsor } from "./types.js";
export {
  currentPolicy,
  decidePolicy,
  dueInterval,
  evolvePolicy,
  initialPolicyState,
  type PolicyAct,
  type PolicyCommand,
  type PolicyEvent,
  type PolicyState,
  policyVersion,
  type Retarget,
} from "./policy.js";
export {
  byMoves,
  type Commitment,
  type CreditAward,
  decideGame,
  evolveGame,
  type GameCommand,
  type GameEvent,
  type GameState,
  initialGameState,
  nextDeadline,
  type Resolution,
  type Reveal,
  rulesOf,
  type StartedGame,
  type Suspension,
} from "./game.js";
export {
  firstRetargetInterval,
  intervalEnd,
  intervalIndexAt,
  intervalStart,
  rateTargetOn,
  retargetStakePeriod,
} from "./retarget.js";
