import type { Transaction } from "kysely";
import { rulesFor } from "@pot/mechanism";
import type { Projection } from "@pot/projections";
import type { StoredEvent } from "@pot/event-store";
import { gameEventFromWire } from "../../adapters/nats/codec.js";
import type { AdjudicatorDatabase } from "./games.table.js";

/**
 * One row per game. Every statement is guarded by `last_seq < seq`, so applying an event twice
 * changes nothing even without the runner's checkpoint.
 */
export const gamesProjection: Projection<AdjudicatorDatabase> = {
  name: "games",
  async apply(trx: Transaction<AdjudicatorDatabase>, events: readonly StoredEvent[]) {
    for (const stored of events) {
      const event = gameEventFromWire(stored.envelope);
      if (!event) continue;
      const seq = stored.seq;
      switch (event.type) {
        case "GameStarted": {
          const kind = event.action.type === "admission" ? "admission" : event.action.kind;
          await trx
            .insertInto("games")
            .values({
              game_id: event.gameId,
              phase: "commit",
              sponsor_a: event.sponsorA.memberId,
              sponsor_b: event.sponsorB.memberId,
              action_kind: kind,
              reveal_window_ms: rulesFor(event.policy, kind)?.revealWindowMs ?? 0,
              policy_version: event.policy.version,
              opened_at: event.openedAt,
              commit_deadline: event.commitDeadline,
              reveal_deadline: null,
              next_deadline: event.commitDeadline,
              committed_a: false,
              committed_b: false,
              revealed_a: false,
              revealed_b: false,
              move_a: null,
              move_b: null,
              outcome: null,
              resolved_at: null,
              last_seq: seq,
            })
            .onConflict((oc) => oc.column("game_id").doNothing())
            .execute();
          break;
        }
        case "MoveCommitted": {
          const row = await trx
            .selectFrom("games")
            .select(["sponsor_a", "committed_a", "committed_b", "reveal_window_ms", "last_seq"])
            .where("game_id", "=", event.gameId)
            .executeTakeFirst();
          if (!row || Number(row.last_seq) >= seq) break;
          const side = row.sponsor_a === event.memberId ? "a" : "b";
          const both = side === "a" ? row.committed_b : row.committed_a;
          const revealDeadline = event.at + Number(row.reveal_window_ms);
          await trx
            .updateTable("games")
            .set({
              [`committed_${side}`]: true,
              last_seq: seq,
              ...(both
                ? { phase: "reveal" as const, reveal_deadline: revealDeadline, next_deadline: revealDeadline }
                : {}),
            })
            .where("game_id", "=", event.gameId)
            .execute();
          break;
        }
        case "MoveRevealed": {
          const row = await trx
            .selectFrom("games")
            .select(["sponsor_a"])
            .where("game_id", "=", event.gameId)
            .executeTakeFirst();
          if (!row) break;
          const side = row.sponsor_a === event.memberId ? "a" : "b";
          await trx
            .updateTable("games")
            .set({ [`revealed_${side}`]: true, [`move_${side}`]: event.move, last_seq: seq })
            .where("game_id", "=", event.gameId)
            .where("last_seq", "<", String(seq))
            .execute();
          break;
        }
        case "GameResolved":
          await trx
            .updateTable("games")
            .set({
              phase: "resolved",
              outcome: event.outcome,
              move_a: event.moveA ?? null,
              move_b: event.moveB ?? null,
              resolved_at: event.resolvedAt,
              next_deadline: null,
              last_seq: seq,
            })
            .where("game_id", "=", event.gameId)
            .where("last_seq", "<", String(seq))
            .execute();
          break;
        default: {
          const unreachable: never = event;
          return unreachable;
        }
      }
    }
  },
};
