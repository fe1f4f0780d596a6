import { writeTogether, type Projection, type ReadModels } from "@pot/projections";
import type { AdjudicatorDatabase } from "./database.js";
import { gameWrites } from "./games/games.projection.js";
import { migrations } from "./migrations.js";
import type { GameEvent } from "../domain/index.js";
import { gameEvents, type Sequenced } from "./sequenced.js";
import { statsWrites } from "./stats/stats.projection.js";
import { trustWrites } from "./trust/trust.projection.js";

/**
 * The adjudicator stream applied to every adjudicator table in one transaction per batch. The
 * network statistics live here because every number in them is in the adjudicator's events
 * (openings, outcomes, moves, the suspensions, admissions and credits each resolution decided).
 */
export const adjudicatorViews: Projection<AdjudicatorDatabase, Sequenced<GameEvent>[]> = {
  name: "views",
  // Decoding the payloads needs no database: the runner does it while the previous batch is written.
  prepare: gameEvents,
  async apply(trx, stored, prepared) {
    const events = prepared ?? gameEvents(stored);
    if (events.length === 0) return;
    // Every table's writes in one statement: one round trip per batch instead of one per table.
    await writeTogether(trx, [...(await gameWrites(trx, events)), ...trustWrites(events), ...statsWrites(events)]);
  },
};

/** The adjudicator's read models, for the service and for a rebuild (`@pot/ops` replay). */
export const readModels: ReadModels<AdjudicatorDatabase> = {
  service: "adjudicator",
  schemaSuffix: "adjudicator",
  migrations,
  tables: ["games", "trust_edges", "network_stats_daily"],
  projections: [{ projection: adjudicatorViews, stream: "self" }],
};

export type { AdjudicatorDatabase } from "./database.js";
export type { GameRow } from "./games/games.table.js";
export type { TrustEdgeRow } from "./trust/trust-edges.table.js";
export type { NetworkStatsDailyRow } from "./stats/network-stats-daily.table.js";
