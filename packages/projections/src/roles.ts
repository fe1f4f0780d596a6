import pg from "pg";
import { assertSchemaName } from "./database.js";

/**
 * PostgreSQL least privilege for one service (docs/security.md, "PostgreSQL"):
 * - the **owner** role owns the service's schema and everything in it (the projections write,
 *   migrations run as it); it has no privilege on any other service's schema;
 * - the **reader** role may only read that schema (USAGE on it, SELECT on its tables, present and
 *   future): the gRPC query path connects as it (DATABASE_QUERY_URL), so a query can never write.
 *
 * Run as a role allowed to create roles (the cluster's admin). Idempotent: an existing role or
 * schema is kept and its ownership and grants are (re)applied; tables made earlier by another role
 * (e.g. a superuser, before roles existed) are handed to the owner.
 */
export interface ServiceRoles {
  readonly schema: string;
  readonly owner: string;
  readonly reader: string;
  /** Set (production) to give the roles a password; trust-auth clusters (development, tests) need none. */
  readonly ownerPassword?: string;
  readonly readerPassword?: string;
}

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function assertRoleName(role: string): string {
  if (!ROLE_NAME.test(role)) throw new Error(`role name '${role}' is invalid: use 1-63 characters of a-z, 0-9 and '_'`);
  return role;
}

export async function provisionServiceRoles(adminUrl: string, roles: ServiceRoles): Promise<void> {
  const schema = assertSchemaName(roles.schema);
  const owner = assertRoleName(roles.owner);
  const reader = assertRoleName(roles.reader);
  await withClient(adminUrl, async (client) => {
    // Roles are cluster-global: two services provisioning at once must not race on CREATE ROLE.
    await client.query("begin");
    try {
      await client.query("select pg_advisory_xact_lock(hashtext('pot.roles'))");
      for (const [role, password] of [
        [owner, roles.ownerPassword],
        [reader, roles.readerPassword],
      ] as const) {
        const exists = await client.query("select 1 from pg_roles where rolname = $1", [role]);
        if (exists.rowCount === 0)
          await client.query(`create role "${role}" login nosuperuser nocreatedb nocreaterole`);
        if (password !== undefined) await client.query(`alter role "${role}" password ${pg.escapeLiteral(password)}`);
      }
      const database = (await client.query<{ db: string }>("select current_database() as db")).rows[0]!.db;
      await client.query(`grant connect on database "${database}" to "${owner}", "${reader}"`);
      await client.query(`create schema if not exists "${schema}" authorization "${owner}"`);
      await client.query(`alter schema "${schema}" owner to "${owner}"`);
      const tables = await client.query<{ name: string; kind: string }>(
        `select c.relname as name, c.relkind as kind from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = $1 and c.relkind in ('r', 'p', 'v', 'm', 'S')`,
        [schema],
      );
      for (const { name, kind } of tables.rows) {
        const what = kind === "S" ? "sequence" : kind === "v" ? "view" : kind === "m" ? "materialized view" : "table";
        await client.query(`alter ${what} "${schema}"."${name}" owner to "${owner}"`);
      }
      await client.query(`revoke all on schema "${schema}" from public`);
      await client.query(`grant usage on schema "${schema}" to "${reader}"`);
      await client.query(`grant select on all tables in schema "${schema}" to "${reader}"`);
      await client.query(
        `alter default privileges for role "${owner}" in schema "${schema}" grant select on tables to "${reader}"`,
      );
      await client.query("commit");
    } catch (error) {
      await client.query("rollback").catch(() => undefined);
      throw error;
    }
  });
}

/**
 * Drops roles made by provisionServiceRoles (tests: after their database is dropped). Whatever a
 * role still owns or was granted in the database of `adminUrl` is dropped with it.
 */
export async function dropServiceRoles(adminUrl: string, roles: readonly string[]): Promise<void> {
  await withClient(adminUrl, async (client) => {
    for (const role of roles.map(assertRoleName)) {
      const exists = await client.query("select 1 from pg_roles where rolname = $1", [role]);
      if (exists.rowCount === 0) continue;
      await client.query(`drop owned by "${role}" cascade`);
      await client.query(`drop role "${role}"`);
    }
  });
}

/** `url` with its user (and password) replaced: how a service connects as one of its roles. */
export function urlAsRole(url: string, role: string, password?: string): string {
  const parsed = new URL(url);
  parsed.username = encodeURIComponent(role);
  parsed.password = password === undefined ? "" : encodeURIComponent(password);
  return parsed.href;
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}
