import { metrics } from "@opentelemetry/api";
import { Move, moveToJSON, Outcome, outcomeToJSON, type Action, type Envelope } from "@pot/contracts";
import { ATTR, createCounter, METRICS } from "@pot/telemetry";

const OUTCOMES = [
  Outcome.OUTCOME_BOTH_COOPERATED,
  Outcome.OUTCOME_A_DEFECTED,
  Outcome.OUTCOME_B_DEFECTED,
  Outcome.OUTCOME_BOTH_DEFECTED,
  Outcome.OUTCOME_NO_SHOW,
  Outcome.OUTCOME_CANCELLED,
];
const MOVES = [Move.MOVE_COOPERATE, Move.MOVE_DEFECT];

/** "OUTCOME_BOTH_COOPERATED" -> "both_cooperated". */
const label = (name: string) => name.slice(name.indexOf("_") + 1).toLowerCase();
const actionKind = (action: Action | undefined) => action?.action?.$case ?? "none";

/**
 * The adjudicator's domain metrics, counted from the events it appends (once per event, whichever
 * replica appends it): games resolved by outcome, and moves revealed by move (the cooperation rate).
 */
export function adjudicatorMetrics(): (envelope: Envelope) => void {
  const meter = metrics.getMeter("@pot/adjudicator");
  const resolved = createCounter(meter, METRICS.gamesResolved);
  const revealed = createCounter(meter, METRICS.movesRevealed);
  for (const outcome of OUTCOMES) {
    for (const kind of ["admission", "generic"]) {
      resolved.add(0, { [ATTR.outcome]: label(outcomeToJSON(outcome)), [ATTR.actionKind]: kind });
    }
  }
  for (const move of MOVES) revealed.add(0, { [ATTR.move]: label(moveToJSON(move)) });

  return (envelope) => {
    const event = envelope.event;
    switch (event?.$case) {
      case "gameResolved":
        resolved.add(1, {
          [ATTR.outcome]: label(outcomeToJSON(event.value.outcome)),
          [ATTR.actionKind]: actionKind(event.value.action),
        });
        return;
      case "moveRevealed":
        revealed.add(1, { [ATTR.move]: label(moveToJSON(event.value.move)) });
        return;
      default:
        return;
    }
  };
}
