import { metrics } from "@opentelemetry/api";
import { ForgedEventError } from "@pot/mechanism";
import { ATTR, createCounter, METRICS } from "@pot/telemetry";
import type { Logger } from "./logger.js";

/** What the refusal needs to know of the event a reaction was handed (a StoredEvent). */
export interface RefusableEvent {
  readonly seq: number;
  readonly subject: string;
  readonly envelope: { readonly eventId: string; readonly type: string };
}

/** The event types a service's reactions re-check, counted at 0 from the start so the series exist. */
const RECHECKED = [
  "GameOpened",
  "GameResolved",
  "MemberAdmitted",
  "SponsorExcluded",
  "StakePeriodRetargeted",
  // Operator acts (docs/security.md, "Operator acts are signed").
  "NetworkBootstrapped",
  "OperatorKeysRotated",
  "PolicyPublished",
  "AgreementPublished",
  "MemberExcluded",
] as const;

/**
 * Wraps one reaction (the handler of a durable consumer on another service's stream) so that an
 * event it refuses as forged (ForgedEventError: the signatures it carries do not justify it) is
 * reported: logged at error with the reason and counted in pot.events.refused by consumer and event
 * type. The error goes on to the reactor, which never retries it: it puts the event in the service's
 * dead-letter stream (reason kind `forged`) and acknowledges it, so the consumer moves on having
 * changed nothing. Any other error is the reactor's to retry.
 */
export function refusingForgedEvents<E extends RefusableEvent>(
  consumer: string,
  handle: (event: E) => Promise<void>,
  logger: Logger,
): (event: E) => Promise<void> {
  const refused = createCounter(metrics.getMeter("@pot/service-kit"), METRICS.eventsRefused);
  for (const type of RECHECKED) refused.add(0, { [ATTR.consumer]: consumer, [ATTR.eventType]: type });
  return async (event) => {
    try {
      await handle(event);
    } catch (error) {
      if (!(error instanceof ForgedEventError)) throw error;
      refused.add(1, { [ATTR.consumer]: consumer, [ATTR.eventType]: error.eventType });
      logger.error(
        {
          consumer,
          seq: event.seq,
          subject: event.subject,
          eventId: event.envelope.eventId,
          type: event.envelope.type,
          reason: error.message,
        },
        "forged event refused: nothing was changed",
      );
      throw error;
    }
  };
}
