import type { AdmissionsDailyTable } from "./admissions/admissions-daily.table.js";
import type { CreditGrantsTable } from "./credits/credit-grants.table.js";
import type { MembersTable } from "./members/members.table.js";

/** The identity schema as the read models see it. */
export interface IdentityDatabase {
  members: MembersTable;
  credit_grants: CreditGrantsTable;
  admissions_daily: AdmissionsDailyTable;
}
