import type { Projection, ReadModels } from "@pot/projections";
import { applyAdmissions } from "./admissions/admissions.projection.js";
import { applyCredits } from "./credits/credits.projection.js";
import type { IdentityDatabase } from "./database.js";
import { applyMembers } from "./members/members.projection.js";
import { migrations } from "./migrations.js";
import { memberEvents } from "./sequenced.js";

/**
 * The identity stream applied to every identity table in one transaction per batch: one
 * checkpoint for all of them, so a query sees the tables at the same position.
 */
export const identityViews: Projection<IdentityDatabase> = {
  name: "views",
  async apply(trx, stored) {
    const events = memberEvents(stored);
    if (events.length === 0) return;
    await applyMembers(trx, events);
    await applyCredits(trx, events);
    await applyAdmissions(trx, events);
  },
};

/** Identity's read models, for the service and for a rebuild (`@pot/ops` replay). */
export const readModels: ReadModels<IdentityDatabase> = {
  service: "identity",
  schemaSuffix: "identity",
  migrations,
  tables: ["members", "credit_grants", "admissions_daily"],
  projections: [{ projection: identityViews, stream: "self" }],
};

export type { IdentityDatabase } from "./database.js";
export type { MemberRow } from "./members/members.table.js";
export type { CreditGrantRow } from "./credits/credit-grants.table.js";
