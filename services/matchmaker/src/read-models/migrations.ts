import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/** Frozen in time: raw schema operations, never today's table types. */
export const migrations: Record<string, Migration> = {
  "2026-11-23T00:00:00-stakes-and-proposals": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("stakes")
        .addColumn("member_id", "text", (c) => c.primaryKey())
        .addColumn("excluded", "boolean", (c) => c.notNull())
        .addColumn("locked_until", "bigint", (c) => c.notNull())
        .addColumn("lock_game_id", "text")
        .addColumn("open_game_id", "text")
        .addColumn("suspended_until", "bigint", (c) => c.notNull())
        .addColumn("last_seq", "bigint", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("proposals")
        .addColumn("proposal_id", "text", (c) => c.primaryKey())
        .addColumn("proposer_id", "text", (c) => c.notNull())
        .addColumn("partner_id", "text", (c) => c.notNull())
        .addColumn("action_kind", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("made_at", "bigint", (c) => c.notNull())
        .addColumn("expires_at", "bigint", (c) => c.notNull())
        .addColumn("last_seq", "bigint", (c) => c.notNull())
        .execute();
    },
  },
};
