import { sql, type RawBuilder, type Transaction } from "kysely";
import { actionDigest, memberIdOf, rulesFor } from "@pot/mechanism";
import { unnestRows } from "@pot/projections";
import { actionKindOf, type GameEvent } from "../../domain/index.js";
import type { AdjudicatorDatabase } from "../database.js";
import type { Sequenced } from "../sequenced.js";
import type { GameRow, GamesTable } from "./games.table.js";

type Trx = Transaction<AdjudicatorDatabase>;

interface Game {
  game_id: string;
  phase: GamesTable["phase"];
  sponsor_a: string;
  sponsor_b: string;
  action_kind: string;
  action_digest: Uint8Array;
  candidate_id: string | null;
  policy_version: number;
  opened_at: number;
  reveal_window_ms: number;
  commit_deadline: number;
  reveal_deadline: number | null;
  next_deadline: number | null;
  committed_a: boolean;
  committed_b: boolean;
  revealed_a: boolean;
  revealed_b: boolean;
  move_a: GamesTable["move_a"];
  move_b: GamesTable["move_b"];
  outcome: string | null;
  resolved_at: number | null;
  started_seq: number;
  last_seq: number;
}

const GAME = {
  game_id: "text",
  phase: "text",
  sponsor_a: "text",
  sponsor_b: "text",
  action_kind: "text",
  action_digest: "bytea",
  candidate_id: "text",
  policy_version: "integer",
  opened_at: "bigint",
  reveal_window_ms: "bigint",
  commit_deadline: "bigint",
  reveal_deadline: "bigint",
  next_deadline: "bigint",
  committed_a: "boolean",
  committed_b: "boolean",
  revealed_a: "boolean",
  revealed_b: "boolean",
  move_a: "text",
  move_b: "text",
  outcome: "text",
  resolved_at: "bigint",
  started_seq: "bigint",
  last_seq: "bigint",
} as const satisfies Record<keyof Game, string>;

const MUTABLE = [
  "phase",
  "reveal_deadline",
  "next_deadline",
  "committed_a",
  "committed_b",
  "revealed_a",
  "revealed_b",
  "move_a",
  "move_b",
  "outcome",
  "resolved_at",
  "last_seq",
] as const;

/**
 * games: the batch folded per game in memory, as the game decider evolves its state (games the
 * batch did not start are loaded in one query), then written with one upsert, returned for the
 * caller to run (see writeTogether). A row skips events at or below its last_seq, so a batch
 * applied twice changes nothing.
 */
export async function gameWrites(trx: Trx, events: readonly Sequenced<GameEvent>[]): Promise<RawBuilder<unknown>[]> {
  const games = await loadGames(trx, events);
  const changed = new Set<Game>();
  for (const { seq, event } of events) {
    if (event.type === "GameStarted") {
      if (games.has(event.gameId)) continue;
      const kind = actionKindOf(event.action);
      const game: Game = {
        game_id: event.gameId,
        phase: "commit",
        sponsor_a: event.sponsorA.memberId,
        sponsor_b: event.sponsorB.memberId,
        action_kind: kind,
        action_digest: actionDigest(event.action),
        candidate_id: event.action.type === "admission" ? memberIdOf(event.action.candidatePublicKey) : null,
        policy_version: event.policy.version,
        opened_at: event.openedAt,
        reveal_window_ms: rulesFor(event.policy, kind)?.revealWindowMs ?? 0,
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
        started_seq: seq,
        last_seq: seq,
      };
      games.set(event.gameId, game);
      changed.add(game);
      continue;
    }
    const game = games.get(event.gameId);
    if (!game || seq <= game.last_seq) continue;
    switch (event.type) {
      case "MoveCommitted": {
        if (game.sponsor_a === event.memberId) game.committed_a = true;
        else game.committed_b = true;
        if (game.committed_a && game.committed_b) {
          if (game.phase === "commit") game.phase = "reveal";
          game.reveal_deadline = event.at + game.reveal_window_ms;
          game.next_deadline = game.reveal_deadline;
        }
        break;
      }
      case "MoveRevealed":
        if (game.sponsor_a === event.memberId) {
          game.revealed_a = true;
          game.move_a = event.move;
        } else {
          game.revealed_b = true;
          game.move_b = event.move;
        }
        break;
      case "GameResolved":
        game.phase = "resolved";
        game.outcome = event.outcome;
        game.move_a = event.moveA ?? null;
        game.move_b = event.moveB ?? null;
        game.resolved_at = event.resolvedAt;
        game.next_deadline = null;
        break;
      default: {
        const unreachable: never = event;
        return unreachable;
      }
    }
    game.last_seq = seq;
    changed.add(game);
  }
  if (changed.size === 0) return [];
  return [
    sql`
    insert into games as t (${sql.join(Object.keys(GAME).map((c) => sql.id(c)))})
    select * from ${unnestRows(GAME, [...changed])}
    on conflict (game_id) do update set
      ${sql.join(MUTABLE.map((c) => sql`${sql.id(c)} = ${sql.ref(`excluded.${c}`)}`))}
    where t.last_seq < excluded.last_seq
  `,
  ];
}

/** Games the batch continues without starting them. */
async function loadGames(trx: Trx, events: readonly Sequenced<GameEvent>[]): Promise<Map<string, Game>> {
  const started = new Set<string>();
  const wanted = new Set<string>();
  for (const { event } of events) {
    if (event.type === "GameStarted") started.add(event.gameId);
    else if (!started.has(event.gameId)) wanted.add(event.gameId);
  }
  if (wanted.size === 0) return new Map();
  const rows = await trx
    .selectFrom("games")
    .selectAll()
    .where(sql<boolean>`game_id = any(${[...wanted]}::text[])`)
    .execute();
  return new Map(rows.map((row) => [row.game_id, fromRow(row)]));
}

function fromRow(row: GameRow): Game {
  const int = (value: string | null) => (value === null ? null : Number(value));
  return {
    ...row,
    opened_at: Number(row.opened_at),
    reveal_window_ms: Number(row.reveal_window_ms),
    commit_deadline: Number(row.commit_deadline),
    reveal_deadline: int(row.reveal_deadline),
    next_deadline: int(row.next_deadline),
    resolved_at: int(row.resolved_at),
    started_seq: Number(row.started_seq),
    last_seq: Number(row.last_seq),
  };
}
