import { metrics } from "@opentelemetry/api";
import type { Action, Envelope } from "@pot/contracts";
import { ATTR, createCounter, METRICS } from "@pot/telemetry";

const actionKind = (action: Action | undefined) => action?.action?.$case ?? "none";

/**
 * The matchmaker's domain metrics, counted from the events it appends (once per event, whichever
 * replica appends it): games opened, and staking slots suspended by a game's penalty or by an
 * excluded member's sponsor accountability.
 */
export function matchmakerMetrics(): (envelope: Envelope) => void {
  const meter = metrics.getMeter("@pot/matchmaker");
  const opened = createCounter(meter, METRICS.gamesOpened);
  const suspended = createCounter(meter, METRICS.sponsorsSuspended);
  for (const kind of ["admission", "generic"]) opened.add(0, { [ATTR.actionKind]: kind });
  for (const reason of ["game", "exclusion"]) suspended.add(0, { [ATTR.suspensionReason]: reason });

  return (envelope) => {
    const event = envelope.event;
    switch (event?.$case) {
      case "gameOpened":
        opened.add(1, { [ATTR.actionKind]: actionKind(event.value.action) });
        return;
      case "stakesSettled":
        suspended.add(event.value.suspensions.length, { [ATTR.suspensionReason]: "game" });
        return;
      case "sponsorExcluded":
        suspended.add(event.value.suspensions.length, { [ATTR.suspensionReason]: "exclusion" });
        return;
      default:
        return;
    }
  };
}
