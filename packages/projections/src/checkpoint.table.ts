import type { ColumnType, Kysely, Transaction } from "kysely";

export const CHECKPOINT_TABLE = "projection_checkpoints";

/** One row per projection: the stream sequence of the last event it has applied. */
export interface ProjectionCheckpointTable {
  name: string;
  /** bigint: pg returns it as a string. */
  seq: ColumnType<string, number, number>;
}

export type CheckpointTables = {
  projection_checkpoints: ProjectionCheckpointTable;
};

/**
 * The checkpoint table lives in every schema opened with openDatabase, but it is not part of a
 * service's own table types, so the builders are re-typed to see it (search_path finds the table).
 */
export function withCheckpoints<DB>(db: Transaction<DB>): Transaction<CheckpointTables>;
export function withCheckpoints<DB>(db: Kysely<DB>): Kysely<CheckpointTables>;
export function withCheckpoints<DB>(db: Kysely<DB> | Transaction<DB>): Kysely<CheckpointTables> {
  return db as unknown as Kysely<CheckpointTables>;
}

/** The projection's committed checkpoint; 0 when it has never applied anything. */
export async function readCheckpoint<DB>(db: Kysely<DB>, projection: string): Promise<number> {
  const row = await withCheckpoints(db)
    .selectFrom(CHECKPOINT_TABLE)
    .select("seq")
    .where("name", "=", projection)
    .executeTakeFirst();
  return row ? Number(row.seq) : 0;
}
