import type { StoredEvent } from "@pot/event-store";
import { sequenced, type Sequenced } from "@pot/projections";
import { gameEventFromWire } from "../adapters/nats/codec.js";
import type { GameEvent } from "../domain/index.js";

export type { Sequenced };

/** The game events of a batch (policy events are skipped). */
export function gameEvents(stored: readonly StoredEvent[]): Sequenced<GameEvent>[] {
  return sequenced(stored, gameEventFromWire);
}
