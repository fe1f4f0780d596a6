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
  /**
   * The trust state (issue 4): games with their action's kind, digest and candidate, trust edges per
   * pair of members and network statistics per day, all written by the "views" projection of the
   * adjudicator stream, which replays it from the start (the old "games" projection's rows are dropped).
   */
  "2026-11-24T00:00:00-trust-state": {
    async up(db: Kysely<unknown>) {
      await db.schema.dropTable("games").execute();
      await sql`delete from projection_checkpoints where name = 'games'`.execute(db);
      await db.schema
        .createTable("games")
        .addColumn("game_id", "text", (c) => c.primaryKey())
        .addColumn("phase", "text", (c) => c.notNull())
        .addColumn("sponsor_a", "text", (c) => c.notNull())
        .addColumn("sponsor_b", "text", (c) => c.notNull())
        .addColumn("action_kind", "text", (c) => c.notNull())
        .addColumn("action_digest", "bytea", (c) => c.notNull())
        .addColumn("candidate_id", "text")
        .addColumn("policy_version", "integer", (c) => c.notNull())
        .addColumn("opened_at", "bigint", (c) => c.notNull())
        .addColumn("reveal_window_ms", "bigint", (c) => c.notNull())
        .addColumn("commit_deadline", "bigint", (c) => c.notNull())
        .addColumn("reveal_deadline", "bigint")
        .addColumn("next_deadline", "bigint")
        .addColumn("committed_a", "boolean", (c) => c.notNull())
        .addColumn("committed_b", "boolean", (c) => c.notNull())
        .addColumn("revealed_a", "boolean", (c) => c.notNull())
        .addColumn("revealed_b", "boolean", (c) => c.notNull())
        .addColumn("move_a", "text")
        .addColumn("move_b", "text")
        .addColumn("outcome", "text")
        .addColumn("resolved_at", "bigint")
        .addColumn("started_seq", "bigint", (c) => c.notNull())
        .addColumn("last_seq", "bigint", (c) => c.notNull())
        .execute();
      await sql`create index games_due on games (next_deadline) where phase <> 'resolved'`.execute(db);
      await sql`create unique index games_by_start on games (started_seq)`.execute(db);
      await sql`create index games_by_sponsor_a on games (sponsor_a, started_seq)`.execute(db);
      await sql`create index games_by_sponsor_b on games (sponsor_b, started_seq)`.execute(db);
      await db.schema
        .createTable("trust_edges")
        .addColumn("member_low", "text", (c) => c.notNull())
        .addColumn("member_high", "text", (c) => c.notNull())
        .addColumn("games", "integer", (c) => c.notNull())
        .addColumn("mutual_cooperations", "integer", (c) => c.notNull())
        .addColumn("low_defections", "integer", (c) => c.notNull())
        .addColumn("high_defections", "integer", (c) => c.notNull())
        .addColumn("mutual_defections", "integer", (c) => c.notNull())
        .addColumn("no_shows", "integer", (c) => c.notNull())
        .addColumn("cancelled", "integer", (c) => c.notNull())
        .addColumn("last_game_id", "text", (c) => c.notNull())
        .addColumn("last_resolved_at", "bigint", (c) => c.notNull())
        .addColumn("last_seq", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("trust_edges_pk", ["member_low", "member_high"])
        .execute();
      await sql`create index trust_edges_by_high on trust_edges (member_high, member_low)`.execute(db);
      await db.schema
        .createTable("network_stats_daily")
        .addColumn("day", "date", (c) => c.primaryKey())
        .addColumn("games_started", "integer", (c) => c.notNull())
        .addColumn("games_resolved", "integer", (c) => c.notNull())
        .addColumn("both_cooperated", "integer", (c) => c.notNull())
        .addColumn("a_defected", "integer", (c) => c.notNull())
        .addColumn("b_defected", "integer", (c) => c.notNull())
        .addColumn("both_defected", "integer", (c) => c.notNull())
        .addColumn("no_show", "integer", (c) => c.notNull())
        .addColumn("cancelled", "integer", (c) => c.notNull())
        .addColumn("cooperations", "integer", (c) => c.notNull())
        .addColumn("defections", "integer", (c) => c.notNull())
        .addColumn("suspensions", "integer", (c) => c.notNull())
        .addColumn("admissions", "integer", (c) => c.notNull())
        .addColumn("grants", "integer", (c) => c.notNull())
        .addColumn("credits_awarded", "integer", (c) => c.notNull())
        .addColumn("last_seq", "bigint", (c) => c.notNull())
        .execute();
    },
  },
};
