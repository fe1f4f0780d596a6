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

/** The event types of other services whose operator acts matchmaker re-checks before acting on them. */
const CHECKED_TYPES = [
  "pot.v1.NetworkBootstrapped",
  "pot.v1.OperatorKeysRotated",
  "pot.v1.AgreementPublished",
  "pot.v1.MemberExcluded",
  "pot.v1.PolicyPublished",
];

/** Counts an event of another service refused on consumption (a forged operator act), by type. */
export function refusedEventsCounter(): (type: string) => void {
  const refused = createCounter(metrics.getMeter("@pot/matchmaker"), METRICS.eventsRefused);
  for (const type of CHECKED_TYPES) refused.add(0, { [ATTR.eventType]: type });
  return (type) => refused.add(1, { [ATTR.eventType]: type });
}
