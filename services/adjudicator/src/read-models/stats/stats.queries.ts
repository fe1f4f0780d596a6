import { sql, type Kysely } from "kysely";
import type { AdjudicatorDatabase } from "../database.js";
import type { NetworkStatsDailyRow } from "./network-stats-daily.table.js";

/** Days from `from` to `to` (YYYY-MM-DD, inclusive) with any activity, in order. */
export function statsBetween(
  db: Kysely<AdjudicatorDatabase>,
  from: string,
  to: string,
): Promise<NetworkStatsDailyRow[]> {
  return db
    .selectFrom("network_stats_daily")
    .select([
      sql<string>`day::text`.as("day"),
      "games_started",
      "games_resolved",
      "both_cooperated",
      "a_defected",
      "b_defected",
      "both_defected",
      "no_show",
      "cancelled",
      "cooperations",
      "defections",
      "suspensions",
      "admissions",
      "grants",
      "credits_awarded",
      "last_seq",
    ])
    .where(sql<boolean>`day between ${from}::date and ${to}::date`)
    .orderBy("network_stats_daily.day")
    .execute();
}
