import { sql, type Transaction } from "kysely";
import { unnestRows } from "@pot/projections";
import type { LedgerEvent } from "../../domain/index.js";
import type { MatchmakerDatabase } from "../database.js";
import type { Sequenced } from "../sequenced.js";
import type { ProposalsTable } from "./proposals.table.js";

type Trx = Transaction<MatchmakerDatabase>;

interface Stake {
  member_id: string;
  excluded: boolean;
  locked_until: number;
  lock_game_id: string | null;
  open_game_id: string | null;
  suspended_until: number;
  last_seq: number;
}

interface Proposal {
  proposal_id: string;
  proposer_id: string;
  partner_id: string;
  action_kind: string;
  status: ProposalsTable["status"];
  made_at: number;
  expires_at: number;
  last_seq: number;
}

const STAKE = {
  member_id: "text",
  excluded: "boolean",
  locked_until: "bigint",
  lock_game_id: "text",
  open_game_id: "text",
  suspended_until: "bigint",
  last_seq: "bigint",
} as const;

const PROPOSAL = {
  proposal_id: "text",
  proposer_id: "text",
  partner_id: "text",
  action_kind: "text",
  status: "text",
  made_at: "bigint",
  expires_at: "bigint",
  last_seq: "bigint",
} as const;

/**
 * stakes and proposals: the batch folded in memory over the rows it touches (loaded in two
 * queries: proposals, then the stakes of their sponsors), as the ledger decider evolves its state,
 * then written with one upsert per table. Each row carries the sequence of the last event applied
 * to it and skips events at or below it, so a batch applied twice changes nothing.
 */
export async function applyLedger(trx: Trx, events: readonly Sequenced<LedgerEvent>[]): Promise<void> {
  const proposals = await loadProposals(trx, events);
  const stakes = await loadStakes(trx, events, proposals);
  const changedStakes = new Set<Stake>();
  const changedProposals = new Set<Proposal>();
  // An event may change a row twice (a settled sponsor's lock and suspension), so a row skips the
  // events at or below the last_seq it had before the batch, not the one it has now.
  const before = new Map<object, number>([...stakes.values(), ...proposals.values()].map((row) => [row, row.last_seq]));

  const stake = (memberId: string, seq: number, change: (row: Stake) => void) => {
    const row = stakes.get(memberId);
    if (!row || seq <= (before.get(row) ?? 0)) return;
    change(row);
    row.last_seq = seq;
    changedStakes.add(row);
  };
  const proposal = (proposalId: string, seq: number, change: (row: Proposal) => void) => {
    const row = proposals.get(proposalId);
    if (!row || seq <= (before.get(row) ?? 0)) return;
    change(row);
    row.last_seq = seq;
    changedProposals.add(row);
  };
  const suspend = (suspensions: readonly { memberId: string; untilMs: number }[], seq: number) => {
    for (const { memberId, untilMs } of suspensions) {
      stake(memberId, seq, (row) => (row.suspended_until = Math.max(row.suspended_until, untilMs)));
    }
  };

  for (const { seq, event } of events) {
    switch (event.type) {
      case "SponsorRegistered":
        if (!stakes.has(event.memberId)) {
          const row: Stake = {
            member_id: event.memberId,
            excluded: false,
            locked_until: 0,
            lock_game_id: null,
            open_game_id: null,
            suspended_until: 0,
            last_seq: seq,
          };
          stakes.set(event.memberId, row);
          changedStakes.add(row);
        }
        break;
      case "SponsorExcluded":
        stake(event.memberId, seq, (row) => (row.excluded = true));
        suspend(event.suspensions, seq);
        for (const id of event.cancelledProposalIds) {
          proposal(id, seq, (row) => {
            if (row.status === "pending") row.status = "cancelled";
          });
        }
        break;
      case "PolicyAdopted":
      case "AgreementAdopted":
      case "StakePeriodAdopted":
      case "OperatorKeysRecorded":
        break;
      case "ProposalMade":
        if (!proposals.has(event.proposalId)) {
          const row: Proposal = {
            proposal_id: event.proposalId,
            proposer_id: event.proposerId,
            partner_id: event.partnerId,
            action_kind: event.action.type === "admission" ? "admission" : event.action.kind,
            status: "pending",
            made_at: event.madeAt,
            expires_at: event.expiresAt,
            last_seq: seq,
          };
          proposals.set(event.proposalId, row);
          changedProposals.add(row);
        }
        break;
      case "ProposalDeclined":
      case "ProposalCancelled":
        proposal(event.proposalId, seq, (row) => {
          row.status = event.type === "ProposalDeclined" ? "declined" : "cancelled";
        });
        break;
      case "GameOpened":
        proposal(event.gameId, seq, (row) => (row.status = "accepted"));
        for (const sponsor of [event.sponsorA, event.sponsorB]) {
          stake(sponsor.memberId, seq, (row) => {
            row.locked_until = event.stakeLockedUntil;
            row.lock_game_id = event.gameId;
            row.open_game_id = event.gameId;
          });
        }
        break;
      case "StakesSettled": {
        const game = proposals.get(event.gameId);
        for (const memberId of game ? [game.proposer_id, game.partner_id] : []) {
          stake(memberId, seq, (row) => {
            if (event.released && row.lock_game_id === event.gameId) {
              row.locked_until = 0;
              row.lock_game_id = null;
            }
            if (row.open_game_id === event.gameId) row.open_game_id = null;
          });
        }
        suspend(event.suspensions, seq);
        break;
      }
      default: {
        const unreachable: never = event;
        return unreachable;
      }
    }
  }
  if (changedStakes.size > 0) {
    await sql`
      insert into stakes as t (member_id, excluded, locked_until, lock_game_id, open_game_id, suspended_until, last_seq)
      select * from ${unnestRows(STAKE, [...changedStakes])}
      on conflict (member_id) do update set excluded = excluded.excluded, locked_until = excluded.locked_until,
        lock_game_id = excluded.lock_game_id, open_game_id = excluded.open_game_id,
        suspended_until = excluded.suspended_until, last_seq = excluded.last_seq
      where t.last_seq < excluded.last_seq
    `.execute(trx);
  }
  if (changedProposals.size > 0) {
    await sql`
      insert into proposals as t (proposal_id, proposer_id, partner_id, action_kind, status, made_at, expires_at, last_seq)
      select * from ${unnestRows(PROPOSAL, [...changedProposals])}
      on conflict (proposal_id) do update set status = excluded.status, last_seq = excluded.last_seq
      where t.last_seq < excluded.last_seq
    `.execute(trx);
  }
}

/** Proposals the batch refers to without making them. */
async function loadProposals(trx: Trx, events: readonly Sequenced<LedgerEvent>[]): Promise<Map<string, Proposal>> {
  const made = new Set<string>();
  const wanted = new Set<string>();
  const want = (id: string) => {
    if (!made.has(id)) wanted.add(id);
  };
  for (const { event } of events) {
    switch (event.type) {
      case "ProposalMade":
        made.add(event.proposalId);
        break;
      case "ProposalDeclined":
      case "ProposalCancelled":
        want(event.proposalId);
        break;
      case "GameOpened":
      case "StakesSettled":
        want(event.gameId);
        break;
      case "SponsorExcluded":
        event.cancelledProposalIds.forEach(want);
        break;
      default:
        break;
    }
  }
  if (wanted.size === 0) return new Map();
  const rows = await trx
    .selectFrom("proposals")
    .selectAll()
    .where(sql<boolean>`proposal_id = any(${[...wanted]}::text[])`)
    .execute();
  return new Map(
    rows.map((row) => [
      row.proposal_id,
      { ...row, made_at: Number(row.made_at), expires_at: Number(row.expires_at), last_seq: Number(row.last_seq) },
    ]),
  );
}

/** Stakes the batch touches that it does not register (a sponsor is registered once). */
async function loadStakes(
  trx: Trx,
  events: readonly Sequenced<LedgerEvent>[],
  proposals: ReadonlyMap<string, Proposal>,
): Promise<Map<string, Stake>> {
  const registered = new Set<string>();
  const made = new Map<string, readonly string[]>();
  const wanted = new Set<string>();
  const want = (id: string) => {
    if (!registered.has(id)) wanted.add(id);
  };
  for (const { event } of events) {
    switch (event.type) {
      case "SponsorRegistered":
        registered.add(event.memberId);
        break;
      case "SponsorExcluded":
        want(event.memberId);
        event.suspensions.forEach((s) => want(s.memberId));
        break;
      case "ProposalMade":
        made.set(event.proposalId, [event.proposerId, event.partnerId]);
        break;
      case "GameOpened":
        want(event.sponsorA.memberId);
        want(event.sponsorB.memberId);
        break;
      case "StakesSettled": {
        const loaded = proposals.get(event.gameId);
        (made.get(event.gameId) ?? (loaded ? [loaded.proposer_id, loaded.partner_id] : [])).forEach(want);
        event.suspensions.forEach((s) => want(s.memberId));
        break;
      }
      default:
        break;
    }
  }
  if (wanted.size === 0) return new Map();
  const rows = await trx
    .selectFrom("stakes")
    .selectAll()
    .where(sql<boolean>`member_id = any(${[...wanted]}::text[])`)
    .execute();
  return new Map(
    rows.map((row) => [
      row.member_id,
      {
        ...row,
        locked_until: Number(row.locked_until),
        suspended_until: Number(row.suspended_until),
        last_seq: Number(row.last_seq),
      },
    ]),
  );
}
