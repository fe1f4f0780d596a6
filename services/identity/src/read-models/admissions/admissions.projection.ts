import { sql, type RawBuilder } from "kysely";
import { unnestRows, utcDay } from "@pot/projections";
import type { MemberEvent } from "../../domain/index.js";
import type { Sequenced } from "../sequenced.js";

const COUNT = { day: "date", kind: "text", admitted: "integer", last_seq: "bigint" } as const;

/**
 * admissions_daily: the batch's admissions counted per day and kind, added with one upsert. A
 * count is not idempotent by itself: the runner's checkpoint keeps a batch from being applied
 * twice, and last_seq refuses a batch that is not past the row's last one.
 */
export function admissionWrites(events: readonly Sequenced<MemberEvent>[]): RawBuilder<unknown>[] {
  const counts = new Map<string, { day: string; kind: string; admitted: number; last_seq: number }>();
  for (const { seq, event } of events) {
    if (event.type !== "MemberAdmitted") continue;
    const day = utcDay(event.admittedAt);
    const key = `${day}/${event.kind}`;
    const count = counts.get(key) ?? { day, kind: event.kind, admitted: 0, last_seq: seq };
    count.admitted += 1;
    count.last_seq = seq;
    counts.set(key, count);
  }
  if (counts.size === 0) return [];
  return [
    sql`
    insert into admissions_daily as t (day, kind, admitted, last_seq)
    select * from ${unnestRows(COUNT, [...counts.values()])}
    on conflict (day, kind) do update set admitted = t.admitted + excluded.admitted, last_seq = excluded.last_seq
    where t.last_seq < excluded.last_seq
  `,
  ];
}
