import type { Projection, ReadModels } from "@pot/projections";
import type { AdjudicatorDatabase } from "./database.js";
import { applyGames } from "./games/games.projection.js";
import { migrations } from "./migrations.js";
import { gameEvents } from "./sequenced.js";
import { applyStats } from "./stats/stats.projection.js";
import { applyTrust } from "./trust/trust.projection.js";

/**
 * The adjudicator stream applied to every adjudicator table in one transaction per batch. The
 * network statistics live here because every number in them is in the adjudicator's events
 * (openings, outcomes, moves, the suspensions, admissions and credits each resolution decided).
 */
export const adjudicatorViews: Projection<AdjudicatorDatabase> = {
  name: "views",
  async apply(trx, stored) {
    const events = gameEvents(stored);
    if (events.length === 0) return;
    await applyGames(trx, events);
    await applyTrust(trx, events);
    await applyStats(trx, events);
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
