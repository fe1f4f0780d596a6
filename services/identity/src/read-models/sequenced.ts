import type { StoredEvent } from "@pot/event-store";
import { memberEventFromWire } from "../adapters/nats/codec.js";
import type { MemberEvent } from "../domain/index.js";

/** A member event with the stream sequence it was stored at. */
export interface Sequenced<E> {
  readonly seq: number;
  readonly event: E;
}

/** The member events of a batch, decoded once for every table's projection (network events are skipped). */
export function memberEvents(stored: readonly StoredEvent[]): Sequenced<MemberEvent>[] {
  const out: Sequenced<MemberEvent>[] = [];
  for (const { seq, envelope } of stored) {
    const event = memberEventFromWire(envelope);
    if (event) out.push({ seq, event });
  }
  return out;
}
