import type { Projection, ReadModels } from "@pot/projections";
import { applyCooldowns } from "./cooldowns/cooldowns.projection.js";
import type { MatchmakerDatabase } from "./database.js";
import { applyLedger } from "./ledger/ledger.projection.js";
import { migrations } from "./migrations.js";
import type { LedgerEvent } from "../domain/index.js";
import { ledgerEvents, type Sequenced } from "./sequenced.js";

/** The matchmaker stream applied to every matchmaker table in one transaction per batch. */
export const matchmakerViews: Projection<MatchmakerDatabase, Sequenced<LedgerEvent>[]> = {
  name: "views",
  // Decoding the payloads needs no database: the runner does it while the previous batch is written.
  prepare: ledgerEvents,
  async apply(trx, stored, prepared) {
    const events = prepared ?? ledgerEvents(stored);
    if (events.length === 0) return;
    await applyLedger(trx, events);
    await applyCooldowns(trx, events);
  },
};

/** The matchmaker's read models, for the service and for a rebuild (`@pot/ops` replay). */
export const readModels: ReadModels<MatchmakerDatabase> = {
  service: "matchmaker",
  schemaSuffix: "matchmaker",
  migrations,
  tables: ["stakes", "proposals", "pair_cooldowns"],
  projections: [{ projection: matchmakerViews, stream: "self" }],
};

export type { MatchmakerDatabase } from "./database.js";
export type { StakeRow } from "./ledger/stakes.table.js";
export type { ProposalRow } from "./ledger/proposals.table.js";
export type { PairCooldownRow } from "./cooldowns/pair-cooldowns.table.js";
