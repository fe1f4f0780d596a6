import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/** Frozen in time: raw schema operations, never today's table types. */
export const migrations: Record<string, Migration> = {
  "2026-11-23T00:00:00-members": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("members")
        .addColumn("member_id", "text", (c) => c.primaryKey())
        .addColumn("public_key", "bytea", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("sponsor_ids", sql`text[]`, (c) => c.notNull())
        .addColumn("controller_id", "text")
        .addColumn("game_id", "text")
        .addColumn("agreement_version", "integer")
        .addColumn("display_name", "text", (c) => c.notNull())
        .addColumn("admitted_at", "bigint", (c) => c.notNull())
        .addColumn("credits", "integer", (c) => c.notNull())
        .addColumn("last_seq", "bigint", (c) => c.notNull())
        .execute();
    },
  },
  /**
   * The trust state (issue 4): members rebuilt with exclusion and redemption details, credit grants,
   * lineage edges and admissions per day, all written by the "views" projection of the identity
   * stream. The old "members" projection's rows are dropped; "views" replays the stream from the start.
   */
  "2026-11-24T00:00:00-trust-state": {
    async up(db: Kysely<unknown>) {
      await db.schema.dropTable("members").execute();
      await sql`delete from projection_checkpoints where name = 'members'`.execute(db);
      await db.schema
        .createTable("members")
        .addColumn("member_id", "text", (c) => c.primaryKey())
        .addColumn("public_key", "bytea", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("sponsor_ids", sql`text[]`, (c) => c.notNull())
        .addColumn("controller_id", "text")
        .addColumn("game_id", "text")
        .addColumn("agreement_version", "integer")
        .addColumn("display_name", "text", (c) => c.notNull())
        .addColumn("admitted_at", "bigint", (c) => c.notNull())
        .addColumn("credits_redeemed", "integer", (c) => c.notNull())
        .addColumn("excluded_at", "bigint")
        .addColumn("exclusion_reason", "text")
        .addColumn("admitted_seq", "bigint", (c) => c.notNull())
        .addColumn("last_seq", "bigint", (c) => c.notNull())
        .execute();
      await sql`create index members_by_kind on members (kind, admitted_seq)`.execute(db);
      await sql`create index members_by_status on members (status, admitted_seq)`.execute(db);
      await sql`create unique index members_by_admission on members (admitted_seq)`.execute(db);
      await db.schema
        .createTable("credit_grants")
        .addColumn("member_id", "text", (c) => c.notNull())
        .addColumn("game_id", "text", (c) => c.notNull())
        .addColumn("count", "integer", (c) => c.notNull())
        .addColumn("expires_at", "bigint", (c) => c.notNull())
        .addColumn("granted_seq", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("credit_grants_pk", ["member_id", "game_id"])
        .execute();
      await db.schema
        .createTable("lineage_edges")
        .addColumn("child_id", "text", (c) => c.notNull())
        .addColumn("parent_id", "text", (c) => c.notNull())
        .addColumn("relation", "text", (c) => c.notNull())
        .addColumn("seq", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("lineage_edges_pk", ["child_id", "parent_id"])
        .execute();
      await sql`create index lineage_edges_by_parent on lineage_edges (parent_id, seq)`.execute(db);
      await db.schema
        .createTable("admissions_daily")
        .addColumn("day", "date", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("admitted", "integer", (c) => c.notNull())
        .addColumn("last_seq", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("admissions_daily_pk", ["day", "kind"])
        .execute();
    },
  },
  /**
   * Lineage is read from members itself (sponsor_ids, controller_id) with recursive queries: a GIN
   * index finds the members a member sponsored and a partial index those it controls, so a separate
   * edge table (two rows per admission to write, and to rebuild) does not pay for itself.
   */
  "2026-11-24T01:00:00-lineage-from-members": {
    async up(db: Kysely<unknown>) {
      await db.schema.dropTable("lineage_edges").execute();
      await sql`create index members_by_sponsor on members using gin (sponsor_ids)`.execute(db);
      await sql`create index members_by_controller on members (controller_id) where controller_id is not null`.execute(
        db,
      );
    },
  },
  /** MemberAdmitted.tainted: a sponsored member admitted by a controlled or tainted sponsor. */
  "2026-12-03T10:00:00-member-taint": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable("members")
        .addColumn("tainted", "boolean", (c) => c.notNull().defaultTo(false))
        .execute();
    },
  },
};
