import pg from "pg";
import type { TableDigest } from "./types.js";

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

function identifier(kind: string, name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`${kind} name '${name}' is not a plain lowercase identifier`);
  return `"${name}"`;
}

/**
 * The digest of each table: md5 over the md5 of every row's text representation, sorted, so two
 * tables with the same rows have the same digest whatever their physical order. Without `tables`,
 * every table of the schema except the migration bookkeeping.
 */
export async function digestTables(options: {
  databaseUrl: string;
  schema: string;
  tables?: string[];
}): Promise<TableDigest[]> {
  const client = new pg.Client({ connectionString: options.databaseUrl });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await digestWith(client, options.schema, options.tables);
  } finally {
    await client.end();
  }
}

/** digestTables on an open connection (the rebuild digests inside its swap transaction). */
export async function digestWith(
  client: pg.ClientBase,
  schema: string,
  tables?: readonly string[],
): Promise<TableDigest[]> {
  const names =
    tables ??
    (
      await client.query<{ name: string }>(
        `select table_name as name from information_schema.tables
         where table_schema = $1 and table_type = 'BASE TABLE' and table_name not like 'kysely_migration%'
         order by table_name`,
        [schema],
      )
    ).rows.map((row) => row.name);
  const out: TableDigest[] = [];
  for (const table of names) {
    const { rows } = await client.query<{ rows: string; digest: string | null }>(
      `select count(*)::text as rows, md5(coalesce(string_agg(h, '' order by h), '')) as digest
       from (select md5(t::text) as h from ${identifier("schema", schema)}.${identifier("table", table)} t) hashed`,
    );
    out.push({ table, rows: Number(rows[0]?.rows ?? 0), digest: rows[0]?.digest ?? "" });
  }
  return out;
}
