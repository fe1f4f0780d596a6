import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/** Frozen in time: each migration uses raw schema operations, never today's table types. */
export const migrations: Record<string, Migration> = {
  "2026-11-23T00:00:00-games": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("games")
        .addColumn("game_id", "text", (c) => c.primaryKey())
        .addColumn("phase", "text", (c) => c.notNull())
        .addColumn("sponsor_a", "text", (c) => c.notNull())
        .addColumn("sponsor_b", "text", (c) => c.notNull())
        .addColumn("action_kind", "text", (c) => c.notNull())
        .addColumn("policy_version", "integer", (c) => c.notNull())
        .addColumn("opened_at", "bigint", (c) => c.notNull())
        .addColumn("reveal_window_ms", "bigint", (c) => c.notNull())
        .addColumn("commit_deadline", "bigint", (c) => c.notNull())
        .addColumn("reveal_deadline", "bigint")
        .addColumn("next_deadline", "bigint")
        .addColumn("committed_a", "boolean", (c) => c.notNull().defaultTo(false))
        .addColumn("committed_b", "boolean", (c) => c.notNull().defaultTo(false))
        .addColumn("revealed_a", "boolean", (c) => c.notNull().defaultTo(false))
        .addColumn("revealed_b", "boolean", (c) => c.notNull().defaultTo(false))
        .addColumn("move_a", "text")
        .addColumn("move_b", "text")
        .addColumn("outcome", "text")
        .addColumn("resolved_at", "bigint")
        .addColumn("last_seq", "bigint", (c) => c.notNull())
        .execute();
      await sql`create index games_due on games (next_deadline) where phase <> 'resolved'`.execute(db);
    },
  },
};
