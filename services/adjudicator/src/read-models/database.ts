import type { GamesTable } from "./games/games.table.js";
import type { NetworkStatsDailyTable } from "./stats/network-stats-daily.table.js";
import type { TrustEdgesTable } from "./trust/trust-edges.table.js";

/** The adjudicator schema as the read models see it. */
export interface AdjudicatorDatabase {
  games: GamesTable;
  trust_edges: TrustEdgesTable;
  network_stats_daily: NetworkStatsDailyTable;
}
