import type { ColumnType, Selectable } from "kysely";
import type { Int8 } from "../members/members.table.js";

/** Members admitted per UTC day (of admitted_at) and kind. */
export interface AdmissionsDailyTable {
  /** pg returns a date as a Date unless told otherwise; queries select it as text. */
  day: ColumnType<string, string, string>;
  kind: "genesis" | "sponsored" | "controlled";
  admitted: number;
  last_seq: Int8;
}

export type AdmissionsDailyRow = Selectable<AdmissionsDailyTable>;
