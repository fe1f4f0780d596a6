import { writeTogether, type Projection, type ReadModels } from "@pot/projections";
import { admissionWrites } from "./admissions/admissions.projection.js";
import { creditWrites } from "./credits/credits.projection.js";
import type { IdentityDatabase } from "./database.js";
import { memberWrites } from "./members/members.projection.js";
import { migrations } from "./migrations.js";
import type { MemberEvent } from "../domain/index.js";
import { memberEvents, type Sequenced } from "./sequenced.js";

/**
 * The identity stream applied to every identity table in one transaction per batch: one
 * checkpoint for all of them, so a query sees the tables at the same position.
 */
export const identityViews: Projection<IdentityDatabase, Sequenced<MemberEvent>[]> = {
  name: "views",
  // Decoding the payloads needs no database: the runner does it while the previous batch is written.
  prepare: memberEvents,
  async apply(trx, stored, prepared) {
    const events = prepared ?? memberEvents(stored);
    if (events.length === 0) return;
    // Every table's writes in one statement: one round trip per batch instead of one per table.
    await writeTogether(trx, [
      ...(await memberWrites(trx, events)),
      ...creditWrites(events),
      ...admissionWrites(events),
    ]);
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
