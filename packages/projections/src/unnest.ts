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
  const arrays = columns.map((column) => sql`${arrayLiteral(rows, column)}::${sql.raw(types[column])}[]`);
  return sql`unnest(${sql.join(arrays)}) as ${sql.id(alias)}(${sql.join(columns.map((column) => sql.id(column)))})`;
}

const NEEDS_ESCAPE = /["\\]/;
// eslint-disable-next-line no-control-regex
const UNSAFE_TEXT = /[\u0000\uD800-\uDFFF]/;
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text Postgres accepts: NUL (which a text column refuses) and unpaired surrogates (what invalid
 * UTF-8 in an event decodes to) become U+FFFD. Events are checked at the edge, but the log may hold
 * anything (an old event, a bug, a forged message): a projection stores the safe form, so replaying
 * it never fails on the same text again.
 */
export function safeText(text: string): string {
  return UNSAFE_TEXT.test(text) ? text.replace(UNSAFE_CHARS, "\uFFFD") : text;
}

/**
 * One column of the rows as a Postgres array literal, built here rather than by node-postgres (which
 * runs every element through a regular expression): numbers and booleans as they are, bytes as
 * `"\\x<hex>"`, text in double quotes with `"` and `\` escaped (in its safeText form), null and
 * undefined as NULL.
 */
export function arrayLiteral(rows: readonly object[], column: string): string {
  const parts = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const value = (rows[i] as Record<string, unknown>)[column];
    if (value === null || value === undefined) parts[i] = "NULL";
    else if (typeof value === "number" || typeof value === "bigint") parts[i] = String(value);
    else if (typeof value === "boolean") parts[i] = value ? "t" : "f";
    else if (value instanceof Uint8Array) {
      parts[i] = `"\\\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")}"`;
    } else {
      const text = safeText(String(value));
      parts[i] = NEEDS_ESCAPE.test(text) ? `"${text.replace(/["\\]/g, "\\$&")}"` : `"${text}"`;
    }
  }
  return `{${parts.join(",")}}`;
}

const DAY_MS = 86_400_000;
const days = new Map<number, string>();

/** The UTC day (YYYY-MM-DD) of an epoch-milliseconds instant. */
export function utcDay(ms: number): string {
  const day = Math.floor(ms / DAY_MS);
  let text = days.get(day);
  if (text === undefined) {
    text = new Date(day * DAY_MS).toISOString().slice(0, 10);
    if (days.size > 10_000) days.clear();
    days.set(day, text);
  }
  return text;
}

/**
 * Runs a batch's data-modifying statements (inserts, upserts, updates) as one statement,
 * `with w0 as (...), w1 as (...) select 1`: one round trip to Postgres instead of one per table.
 * Postgres runs every one of them to completion on the same snapshot, so none may need another's
 * writes, and no two may touch the same row.
 */
export async function writeTogether(
  db: Parameters<RawBuilder<unknown>["execute"]>[0],
  statements: readonly RawBuilder<unknown>[],
): Promise<void> {
  const [only] = statements;
  if (only === undefined) return;
  if (statements.length === 1) {
    await only.execute(db);
    return;
  }
  const parts = statements.map((statement, index) => sql`${sql.id(`w${index}`)} as (${statement})`);
  await sql`with ${sql.join(parts)} select 1`.execute(db);
}
