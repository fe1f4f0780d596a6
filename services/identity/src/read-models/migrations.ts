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
};
