import { sql, type RawBuilder } from "kysely";
import { unnestRows } from "@pot/projections";
import type { GameEvent } from "../../domain/index.js";
import type { Sequenced } from "../sequenced.js";

interface EdgeDelta {
  member_low: string;
  member_high: string;
  games: number;
  mutual_cooperations: number;
  low_defections: number;
  high_defections: number;
  mutual_defections: number;
  no_shows: number;
  cancelled: number;
  last_game_id: string;
  last_resolved_at: number;
  last_seq: number;
}

const EDGE = {
  member_low: "text",
  member_high: "text",
  games: "integer",
  mutual_cooperations: "integer",
  low_defections: "integer",
  high_defections: "integer",
  mutual_defections: "integer",
  no_shows: "integer",
  cancelled: "integer",
  last_game_id: "text",
  last_resolved_at: "bigint",
  last_seq: "bigint",
} as const satisfies Record<keyof EdgeDelta, string>;

const COUNTERS = [
  "games",
  "mutual_cooperations",
  "low_defections",
  "high_defections",
  "mutual_defections",
  "no_shows",
  "cancelled",
] as const;

/**
 * trust_edges: every GameResolved counted on its pair, the batch's counts added with one upsert.
 * Counts are not idempotent by themselves: the runner's checkpoint keeps a batch from being
 * applied twice, and last_seq refuses a batch that is not past the row's last one.
 */
export function trustWrites(events: readonly Sequenced<GameEvent>[]): RawBuilder<unknown>[] {
  const edges = new Map<string, EdgeDelta>();
  for (const { seq, event } of events) {
    if (event.type !== "GameResolved") continue;
    const a = event.sponsorA.memberId;
    const b = event.sponsorB.memberId;
    const aIsLow = a < b;
    const key = aIsLow ? `${a}:${b}` : `${b}:${a}`;
    const edge = edges.get(key) ?? {
      member_low: aIsLow ? a : b,
      member_high: aIsLow ? b : a,
      games: 0,
      mutual_cooperations: 0,
      low_defections: 0,
      high_defections: 0,
      mutual_defections: 0,
      no_shows: 0,
      cancelled: 0,
      last_game_id: event.gameId,
      last_resolved_at: event.resolvedAt,
      last_seq: seq,
    };
    edge.games += 1;
    const defected = (side: "a" | "b") => {
      if ((side === "a") === aIsLow) edge.low_defections += 1;
      else edge.high_defections += 1;
    };
    switch (event.outcome) {
      case "both-cooperated":
        edge.mutual_cooperations += 1;
        break;
      case "a-defected":
        defected("a");
        break;
      case "b-defected":
        defected("b");
        break;
      case "both-defected":
        defected("a");
        defected("b");
        edge.mutual_defections += 1;
        break;
      case "no-show":
        edge.no_shows += 1;
        break;
      case "cancelled":
        edge.cancelled += 1;
        break;
      default: {
        const unreachable: never = event.outcome;
        return unreachable;
      }
    }
    edge.last_game_id = event.gameId;
    edge.last_resolved_at = event.resolvedAt;
    edge.last_seq = seq;
    edges.set(key, edge);
  }
  if (edges.size === 0) return [];
  return [
    sql`
    insert into trust_edges as t (${sql.join(Object.keys(EDGE).map((c) => sql.id(c)))})
    select * from ${unnestRows(EDGE, [...edges.values()])}
    on conflict (member_low, member_high) do update set
      ${sql.join(COUNTERS.map((c) => sql`${sql.id(c)} = ${sql.ref(`t.${c}`)} + ${sql.ref(`excluded.${c}`)}`))},
      last_game_id = excluded.last_game_id, last_resolved_at = excluded.last_resolved_at, last_seq = excluded.last_seq
    where t.last_seq < excluded.last_seq
  `,
  ];
}
