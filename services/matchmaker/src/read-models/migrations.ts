import { sql, type Kysely } from "kysely";
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
  /**
   * Pair cool-downs (issue 4), written with the stakes and proposals by the "views" projection of
   * the matchmaker stream, which replays the stream from the start: the old "ledger" projection's
   * rows are cleared.
   */
  "2026-11-24T00:00:00-pair-cooldowns": {
    async up(db: Kysely<unknown>) {
      await sql`truncate stakes, proposals`.execute(db);
      await sql`delete from projection_checkpoints where name = 'ledger'`.execute(db);
      await db.schema
        .createTable("pair_cooldowns")
        .addColumn("member_low", "text", (c) => c.notNull())
        .addColumn("member_high", "text", (c) => c.notNull())
        .addColumn("until", "bigint", (c) => c.notNull())
        .addColumn("game_id", "text", (c) => c.notNull())
        .addColumn("last_seq", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("pair_cooldowns_pk", ["member_low", "member_high"])
        .execute();
    },
  },
};
