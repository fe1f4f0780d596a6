import { sql, type RawBuilder } from "kysely";
import { unnestRows, utcDay } from "@pot/projections";
import type { GameEvent } from "../../domain/index.js";
import type { Sequenced } from "../sequenced.js";

interface DayDelta {
  day: string;
  games_started: number;
  games_resolved: number;
  both_cooperated: number;
  a_defected: number;
  b_defected: number;
  both_defected: number;
  no_show: number;
  cancelled: number;
  cooperations: number;
  defections: number;
  suspensions: number;
  admissions: number;
  grants: number;
  credits_awarded: number;
  last_seq: number;
}

type Counter = Exclude<keyof DayDelta, "day" | "last_seq">;

const COUNTERS: readonly Counter[] = [
  "games_started",
  "games_resolved",
  "both_cooperated",
  "a_defected",
  "b_defected",
  "both_defected",
  "no_show",
  "cancelled",
  "cooperations",
  "defections",
  "suspensions",
  "admissions",
  "grants",
  "credits_awarded",
];

const DAY = {
  day: "date",
  ...Object.fromEntries(COUNTERS.map((c) => [c, "integer"])),
  last_seq: "bigint",
} as Record<keyof DayDelta, string>;

const OUTCOME_COUNTER = {
  "both-cooperated": "both_cooperated",
  "a-defected": "a_defected",
  "b-defected": "b_defected",
  "both-defected": "both_defected",
  "no-show": "no_show",
  cancelled: "cancelled",
} as const satisfies Record<string, Counter>;

/**
 * network_stats_daily: openings counted on the day they opened, resolutions on the day they
 * resolved, added with one upsert per batch (idempotent through the runner's checkpoint and the
 * row's last_seq, like every counter).
 */
export function statsWrites(events: readonly Sequenced<GameEvent>[]): RawBuilder<unknown>[] {
  const days = new Map<string, DayDelta>();
  const on = (at: number, seq: number) => {
    const day = utcDay(at);
    let delta = days.get(day);
    if (!delta) {
      delta = { day, last_seq: seq, ...(Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<Counter, number>) };
      days.set(day, delta);
    }
    delta.last_seq = seq;
    return delta;
  };
  for (const { seq, event } of events) {
    if (event.type === "GameStarted") {
      on(event.openedAt, seq).games_started += 1;
      continue;
    }
    if (event.type !== "GameResolved") continue;
    const delta = on(event.resolvedAt, seq);
    delta.games_resolved += 1;
    delta[OUTCOME_COUNTER[event.outcome]] += 1;
    if (event.outcome !== "no-show" && event.outcome !== "cancelled") {
      for (const move of [event.moveA, event.moveB]) {
        if (move === "cooperate") delta.cooperations += 1;
        else if (move === "defect") delta.defections += 1;
      }
    }
    delta.suspensions += event.suspensions.length;
    if (event.admitted) delta.admissions += 1;
    if (event.granted) delta.grants += 1;
    delta.credits_awarded += event.credits.reduce((sum, credit) => sum + credit.count, 0);
  }
  if (days.size === 0) return [];
  return [
    sql`
    insert into network_stats_daily as t (${sql.join(Object.keys(DAY).map((c) => sql.id(c)))})
    select * from ${unnestRows(DAY, [...days.values()])}
    on conflict (day) do update set
      ${sql.join(COUNTERS.map((c) => sql`${sql.id(c)} = ${sql.ref(`t.${c}`)} + ${sql.ref(`excluded.${c}`)}`))},
      last_seq = excluded.last_seq
    where t.last_seq < excluded.last_seq
  `,
  ];
}
