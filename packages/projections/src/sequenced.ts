import type { Envelope } from "@pot/contracts";
import type { StoredEvent } from "@pot/event-store";

/** A domain event with the stream sequence it was stored at. */
export interface Sequenced<E> {
  readonly seq: number;
  readonly event: E;
}

/**
 * A batch's domain events, decoded once for every table's projection; envelopes that `fromWire`
 * does not map (another aggregate's events) are skipped.
 */
export function sequenced<E>(
  stored: readonly StoredEvent[],
  fromWire: (envelope: Envelope) => E | undefined,
): Sequenced<E>[] {
  const out: Sequenced<E>[] = [];
  for (const { seq, envelope } of stored) {
    const event = fromWire(envelope);
    if (event) out.push({ seq, event });
  }
  return out;
}
