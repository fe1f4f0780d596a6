import { sql, type RawBuilder } from "kysely";

/** Postgres element type of each column, e.g. `{ member_id: "text", admitted_at: "bigint" }`. */
export type ColumnTypes<R> = { readonly [K in keyof R]: string };

/**
 * `unnest($1::text[], $2::bigint[], ...) as <alias>(col1, col2, ...)`: a batch of rows as one array
 * parameter per column, for set-based writes such as
 * `insert into t (...) select * from <unnestRows> on conflict (...) do update ...`, one statement
 * per table and batch rather than one per event. Array columns cannot be nested this way (Postgres
 * arrays are rectangular): pass them joined, e.g. as text, and split them in the statement.
 */
export function unnestRows<R extends object>(
  types: ColumnTypes<R>,
  rows: readonly R[],
  alias = "u",
): RawBuilder<unknown> {
  const columns = Object.keys(types) as (keyof R & string)[];
  const arrays = columns.map(
    (column) =>
      sql`${rows.map((row) => parameter((row as Record<string, unknown>)[column]))}::${sql.raw(types[column])}[]`,
  );
  return sql`unnest(${sql.join(arrays)}) as ${sql.id(alias)}(${sql.join(columns.map((column) => sql.id(column)))})`;
}

/** node-postgres writes Buffers, not other Uint8Arrays, into array literals. */
function parameter(value: unknown): unknown {
  if (value === undefined) return null;
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  return value;
}

/** The UTC day (YYYY-MM-DD) of an epoch-milliseconds instant. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
