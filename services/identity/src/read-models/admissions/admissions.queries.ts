import type { Kysely } from "kysely";
import { sql } from "kysely";
import type { IdentityDatabase } from "../database.js";
import type { AdmissionsDailyTable } from "./admissions-daily.table.js";

/** Admissions per day and kind, from `from` to `to` (YYYY-MM-DD, inclusive), in day order. */
export async function admissionsBetween(
  db: Kysely<IdentityDatabase>,
  from: string,
  to: string,
): Promise<{ day: string; kind: AdmissionsDailyTable["kind"]; admitted: number }[]> {
  return db
    .selectFrom("admissions_daily")
    .select([sql<string>`day::text`.as("day"), "kind", "admitted"])
    .where(sql<boolean>`day between ${from}::date and ${to}::date`)
    .orderBy("day")
    .orderBy("kind")
    .execute();
}
