import type { Envelope } from "@pot/contracts";

/** One entity's events of a batch, folded: what the rebuild pipeline upserts. */
export interface FoldedRow {
  readonly id: string;
  kind: string;
  readonly firstSeq: number;
  lastSeq: number;
  at: number;
  events: number;
  tag: Uint8Array;
}

/**
 * The entity an event is about, as a read model would key it: its game, else its proposal, else
 * its member, else its aggregate (the matchmaker's events all share one aggregate, the ledger, but
 * its read models keep a row per game, proposal and sponsor).
 */
export function entityOf(envelope: Pick<Envelope, "aggregateId" | "event">): string {
  const body = envelope.event?.value as { gameId?: unknown; proposalId?: unknown; memberId?: unknown } | undefined;
  for (const key of [body?.gameId, body?.proposalId, body?.memberId]) {
    if (typeof key === "string" && key !== "") return key;
  }
  return envelope.aggregateId;
}

/** Events folded into one row per entity, in the order the entities first appear, until taken. */
export class EntityFold {
  private rows = new Map<string, FoldedRow>();

  get size(): number {
    return this.rows.size;
  }

  add(id: string, kind: string, seq: number, at: number, tag: Uint8Array): void {
    const row = this.rows.get(id);
    if (row === undefined) {
      this.rows.set(id, { id, kind, firstSeq: seq, lastSeq: seq, at, events: 1, tag });
      return;
    }
    if (seq <= row.lastSeq) throw new Error(`event ${seq} of ${id} arrived after ${row.lastSeq}`);
    row.kind = kind;
    row.lastSeq = seq;
    row.at = at;
    row.events++;
    row.tag = tag;
  }

  /** The rows folded so far (one per entity); the fold starts empty again. */
  take(): FoldedRow[] {
    const rows = [...this.rows.values()];
    this.rows = new Map();
    return rows;
  }
}
