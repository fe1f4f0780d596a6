import type { StoredEvent } from "@pot/event-store";
import { ledgerEventFromWire } from "../adapters/nats/codec.js";
import type { LedgerEvent } from "../domain/index.js";

/** A ledger event with the stream sequence it was stored at. */
export interface Sequenced<E> {
  readonly seq: number;
  readonly event: E;
}

/** The ledger events of a batch, decoded once for every table's projection. */
export function ledgerEvents(stored: readonly StoredEvent[]): Sequenced<LedgerEvent>[] {
  const out: Sequenced<LedgerEvent>[] = [];
  for (const { seq, envelope } of stored) {
    const event = ledgerEventFromWire(envelope);
    if (event) out.push({ seq, event });
  }
  return out;
}
