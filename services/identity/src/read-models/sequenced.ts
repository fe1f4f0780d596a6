import type { StoredEvent } from "@pot/event-store";
import { sequenced, type Sequenced } from "@pot/projections";
import { memberEventFromWire } from "../adapters/nats/codec.js";
import type { MemberEvent } from "../domain/index.js";

export type { Sequenced };

/** The member events of a batch (network events are skipped). */
export function memberEvents(stored: readonly StoredEvent[]): Sequenced<MemberEvent>[] {
  return sequenced(stored, memberEventFromWire);
}
