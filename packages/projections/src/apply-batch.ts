import type { Kysely, Transaction } from "kysely";
import type { StoredEvent } from "@pot/event-store";
import { CHECKPOINT_TABLE, withCheckpoints, type CheckpointTables } from "./checkpoint.table.js";
import { StaleCheckpointError } from "./errors.js";

export interface Projection<DB> {
  /** Checkpoint key, unique within the service's schema. */
  readonly name: string;
  /**
   * Applies events that are past the checkpoint, in stream order, inside the batch's transaction.
   * Writes are idempotent upserts, so a rebuild from any state converges.
   */
  apply(trx: Transaction<DB>, events: readonly StoredEvent[]): Promise<void>;
}

/**
 * Applies a batch and moves the projection's checkpoint to its last event, in one transaction.
 * Events at or below the stored checkpoint are dropped, so a redelivered batch is a no-op. With
 * `expectedCheckpoint`, a stored checkpoint that differs refuses the batch (StaleCheckpointError).
 * Returns the checkpoint after the transaction.
 */
export async function applyBatch<DB>(
  db: Kysely<DB>,
  projection: Projection<DB>,
  events: readonly StoredEvent[],
  expectedCheckpoint?: number,
): Promise<number> {
  return applyThrough(db, projection, events, events.at(-1)?.seq ?? 0, expectedCheckpoint);
}

/**
 * applyBatch, with the checkpoint moved to `throughSeq`, which may lie past the last event: the
 * runner counts messages it could not decode (and terminated) as consumed.
 */
export async function applyThrough<DB>(
  db: Kysely<DB>,
  projection: Projection<DB>,
  events: readonly StoredEvent[],
  throughSeq: number,
  expectedCheckpoint?: number,
): Promise<number> {
  assertOrdered(events, throughSeq);
  return db.transaction().execute(async (trx) => {
    const checkpoints = withCheckpoints(trx);
    const stored = await lockCheckpoint(checkpoints, projection.name);
    if (expectedCheckpoint !== undefined && expectedCheckpoint !== stored) {
      throw new StaleCheckpointError(projection.name, expectedCheckpoint, stored);
    }
    if (throughSeq <= stored) return stored;
    const fresh = unapplied(events, stored);
    if (fresh.length > 0) await projection.apply(trx, fresh);
    const moved = await checkpoints
      .updateTable(CHECKPOINT_TABLE)
      .set({ seq: throughSeq })
      .where("name", "=", projection.name)
      .where("seq", "=", String(stored))
      .executeTakeFirst();
    if (moved.numUpdatedRows !== 1n) throw new StaleCheckpointError(projection.name, stored, undefined);
    return throughSeq;
  });
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
