import type { StoredEvent } from "@pot/event-store";
import { sequenced, type Sequenced } from "@pot/projections";
import { ledgerEventFromWire } from "../adapters/nats/codec.js";
import type { LedgerEvent } from "../domain/index.js";

export type { Sequenced };

/** The ledger events of a batch. */
export function ledgerEvents(stored: readonly StoredEvent[]): Sequenced<LedgerEvent>[] {
  return sequenced(stored, ledgerEventFromWire);
}
