import type { Kysely, Transaction } from "kysely";
import type { StoredEvent } from "@pot/event-store";
import { CHECKPOINT_TABLE, withCheckpoints, type CheckpointTables } from "./checkpoint.table.js";
import { StaleCheckpointError } from "./errors.js";

export interface Projection<DB, P = unknown> {
  /** Checkpoint key, unique within the service's schema. */
  readonly name: string;
  /**
   * Optional: the part of a batch's work that needs no database (decoding the events' payloads,
   * building rows that depend on the batch alone). The runner calls it outside any transaction,
   * while the previous batch is being written, so that it overlaps Postgres; its result is handed
   * to apply with the same events. It must not read or write anything but its argument.
   */
  prepare?(events: readonly StoredEvent[]): P;
  /**
   * Applies events that are past the checkpoint, in stream order, inside the batch's transaction.
   * Writes are idempotent upserts, so a rebuild from any state converges. `prepared` is what
   * prepare returned for exactly these events; absent (apply works it out itself) when prepare was
   * not called, or when the checkpoint dropped some of the events prepare saw.
   */
  apply(trx: Transaction<DB>, events: readonly StoredEvent[], prepared?: P): Promise<void>;
}

/**
 * Applies a batch and moves the projection's checkpoint to its last event, in one transaction.
 * Events at or below the stored checkpoint are dropped, so a redelivered batch is a no-op. With
 * `expectedCheckpoint`, a stored checkpoint that differs refuses the batch (StaleCheckpointError).
 * Returns the checkpoint after the transaction.
 */
export async function applyBatch<DB, P>(
  db: Kysely<DB>,
  projection: Projection<DB, P>,
  events: readonly StoredEvent[],
  expectedCheckpoint?: number,
): Promise<number> {
  return applyThrough(db, projection, events, events.at(-1)?.seq ?? 0, expectedCheckpoint);
}

/**
 * applyBatch, with the checkpoint moved to `throughSeq`, which may lie past the last event: the
 * runner counts messages it could not decode (and terminated) as consumed. `prepared` is the
 * projection's prepare(events), used only when no event is dropped by the checkpoint.
 */
export async function applyThrough<DB, P>(
  db: Kysely<DB>,
  projection: Projection<DB, P>,
  events: readonly StoredEvent[],
  throughSeq: number,
  expectedCheckpoint?: number,
  prepared?: P,
): Promise<number> {
  assertOrdered(events, throughSeq);
  return db.transaction().execute(async (trx) => {
    const checkpoints = withCheckpoints(trx);
    if (expectedCheckpoint !== undefined && throughSeq > expectedCheckpoint) {
      // The usual case, in one round trip: the compare-and-set first (its row lock orders the
      // batches of the projection as FOR UPDATE does); only when it misses, read what is stored.
      const moved = await moveCheckpoint(checkpoints, projection.name, expectedCheckpoint, throughSeq);
      if (moved) {
        const fresh = unapplied(events, expectedCheckpoint);
        if (fresh.length > 0) await projection.apply(trx, fresh, fresh === events ? prepared : undefined);
        return throughSeq;
      }
    }
    const stored = await lockCheckpoint(checkpoints, projection.name);
    if (expectedCheckpoint !== undefined && expectedCheckpoint !== stored) {
      throw new StaleCheckpointError(projection.name, expectedCheckpoint, stored);
    }
    if (throughSeq <= stored) return stored;
    const fresh = unapplied(events, stored);
    if (fresh.length > 0) await projection.apply(trx, fresh, fresh === events ? prepared : undefined);
    if (!(await moveCheckpoint(checkpoints, projection.name, stored, throughSeq))) {
      throw new StaleCheckpointError(projection.name, stored, undefined);
    }
    return throughSeq;
  });
}

/** Compare-and-set of the checkpoint from `from` to `to`; false when it is not at `from` (or missing). */
async function moveCheckpoint(
  trx: Transaction<CheckpointTables>,
  name: string,
  from: number,
  to: number,
): Promise<boolean> {
  const moved = await trx
    .updateTable(CHECKPOINT_TABLE)
    .set({ seq: to })
    .where("name", "=", name)
    .where("seq", "=", String(from))
    .executeTakeFirst();
  return moved.numUpdatedRows === 1n;
}

/** The events past the checkpoint (events are in ascending sequence order). */
export function unapplied(events: readonly StoredEvent[], checkpoint: number): readonly StoredEvent[] {
  const first = events.findIndex((event) => event.seq > checkpoint);
  return first < 0 ? [] : first === 0 ? events : events.slice(first);
}

export function assertOrdered(events: readonly StoredEvent[], throughSeq: number): void {
  let previous = 0;
  for (const event of events) {
    if (event.seq <= previous) {
      throw new Error(`events must be in ascending sequence order: ${event.seq} follows ${previous}`);
    }
    previous = event.seq;
  }
  if (previous > throughSeq) throw new Error(`the batch ends at ${throughSeq} but holds event ${previous}`);
}

/** Reads the checkpoint row FOR UPDATE, so batches of one projection commit one after the other. */
async function lockCheckpoint(trx: Transaction<CheckpointTables>, name: string): Promise<number> {
  const select = () =>
    trx.selectFrom(CHECKPOINT_TABLE).select("seq").where("name", "=", name).forUpdate().executeTakeFirst();
  let row = await select();
  if (row === undefined) {
    await trx
      .insertInto(CHECKPOINT_TABLE)
      .values({ name, seq: 0 })
      .onConflict((conflict) => conflict.column("name").doNothing())
      .execute();
    row = await select();
  }
  if (row === undefined) throw new Error(`checkpoint row of projection ${name} vanished`);
  return Number(row.seq);
}
