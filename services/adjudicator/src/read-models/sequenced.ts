import type { StoredEvent } from "@pot/event-store";
import { gameEventFromWire } from "../adapters/nats/codec.js";
import type { GameEvent } from "../domain/index.js";

/** A game event with the stream sequence it was stored at. */
export interface Sequenced<E> {
  readonly seq: number;
  readonly event: E;
}

/** The game events of a batch, decoded once for every table's projection (policy events are skipped). */
export function gameEvents(stored: readonly StoredEvent[]): Sequenced<GameEvent>[] {
  const out: Sequenced<GameEvent>[] = [];
  for (const { seq, envelope } of stored) {
    const event = gameEventFromWire(envelope);
    if (event) out.push({ seq, event });
  }
  return out;
}
