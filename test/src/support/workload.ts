import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { Outcome, type Action } from "@pot/contracts";
import { streamNames } from "@pot/event-store";
import { redeemRequest as signedRedeem } from "@pot/client";
import type { MoveName } from "@pot/mechanism";
import {
  admissionOf,
  answerRequest,
  commitRequest,
  controlledConsent,
  type Member,
  newMember,
  proposeRequest,
  revealRequest,
  sealMove,
  signedExclude,
  TEST_NETWORK,
} from "./players.js";
import type { System } from "./system.js";

const DAY = 86_400_000;
/** Past the default commit and reveal windows (1 day each): the round's no-shows resolve. */
export const DEADLINES_MS = 2 * DAY + 1;
/** Past every default period a round can start: stake (7 d), penalties (30, 60, 90 d), pair cool-down (180 d). */
export const ROUND_MS = 181 * DAY;

/** A small deterministic generator (mulberry32), so a failing workload can be replayed from its seed. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

type Scenario =
  | { kind: "moves"; moves: [MoveName, MoveName]; generic: boolean }
  | { kind: "no-show-commit" }
  | { kind: "no-show-reveal" }
  | { kind: "cancel" };

const SCENARIOS: readonly [number, Scenario][] = [
  [30, { kind: "moves", moves: ["cooperate", "cooperate"], generic: false }],
  [11, { kind: "moves", moves: ["defect", "cooperate"], generic: false }],
  [11, { kind: "moves", moves: ["cooperate", "defect"], generic: false }],
  [11, { kind: "moves", moves: ["defect", "defect"], generic: false }],
  [6, { kind: "moves", moves: ["cooperate", "cooperate"], generic: true }],
  [4, { kind: "moves", moves: ["cooperate", "defect"], generic: true }],
  [6, { kind: "no-show-commit" }],
  [6, { kind: "no-show-reveal" }],
  [2, { kind: "cancel" }],
];

function pick(rng: () => number): Scenario {
  const total = SCENARIOS.reduce((sum, [weight]) => sum + weight, 0);
  let roll = rng() * total;
  for (const [weight, scenario] of SCENARIOS) {
    roll -= weight;
    if (roll < 0) return scenario;
  }
  return SCENARIOS[0]![1];
}

export interface WorkloadResult {
  /** Games opened. */
  games: number;
  /** Games by the outcome their last reveal reported, or by what the scenario leads to. */
  scenarios: Record<string, number>;
  /** Members admitted during the workload: sponsored candidates and controlled identities. */
  admitted: Member[];
  controlled: number;
  excluded: Set<string>;
  /** The controlled clock after the last round. */
  now: number;
  /** Milliseconds spent in each kind of call, summed over the games. */
  timings: Record<string, number>;
}

/**
 * Plays rounds of games between random pairs of the members (and those the games admit, once the
 * matchmaker knows them) until at least `games` games were opened, `concurrency` games at a time,
 * covering every outcome: both cooperate, either defects, both defect, no-show at commit and at
 * reveal, cancellation by excluding a sponsor, and generic actions granted or denied. Defectors
 * redeem a credit for a controlled identity now and then. After each round the controlled clock
 * moves past every period, so every member can play again and the no-shows resolve.
 */
export async function playWorkload(
  system: System,
  options: {
    members: readonly Member[];
    games: number;
    concurrency: number;
    seed: number;
    now: number;
    genericKind: string;
  },
): Promise<WorkloadResult> {
  const rng = random(options.seed);
  const { clients } = system;
  const result: WorkloadResult = {
    games: 0,
    scenarios: {},
    admitted: [],
    controlled: 0,
    excluded: new Set(),
    now: options.now,
    timings: {},
  };
  const timed = async <T>(label: string, call: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await call();
    } finally {
      result.timings[label] = Math.round((result.timings[label] ?? 0) + performance.now() - started);
    }
  };
  let pool = [...options.members];
  // Excluding a member suspends its sponsors (or controller), who may be playing this round: only
  // genesis members, who have neither, are excluded.
  const genesis = new Set(options.members.map((member) => member.id));
  let waiting: Member[] = [];
  // Sponsors of the members the workload admitted: the default policy refuses co-sponsors related
  // within 2 lineage steps (parent and child, siblings, grandparents), so pairs avoid them.
  const parents = new Map<string, readonly string[]>();
  const ancestors = (id: string): Map<string, number> => {
    const found = new Map([[id, 0]]);
    for (const parent of parents.get(id) ?? []) {
      found.set(parent, 1);
      for (const grandparent of parents.get(parent) ?? []) if (!found.has(grandparent)) found.set(grandparent, 2);
    }
    return found;
  };
  const related = (x: string, y: string): boolean => {
    const up = ancestors(y);
    return [...ancestors(x)].some(([id, dx]) => up.has(id) && dx + up.get(id)! <= 2);
  };
  /** Controller -> the identities its credits admitted. */
  const controlledBy = new Map<string, string[]>();
  const genericAction = (): Action => ({
    action: { $case: "generic", value: { kind: options.genericKind, payload: new TextEncoder().encode(randomUUID()) } },
  });
  const count = (label: string) => (result.scenarios[label] = (result.scenarios[label] ?? 0) + 1);

  async function play(a: Member, b: Member, scenario: Scenario): Promise<void> {
    const candidate = newMember();
    const generic = scenario.kind === "moves" && scenario.generic;
    const proposal = proposeRequest(a, b, generic ? genericAction() : admissionOf(candidate));
    await timed("propose", () => clients.matchmaker.propose(proposal));
    const accepted = await timed("accept", () =>
      clients.matchmaker.accept(answerRequest("accept", b, proposal.proposalId)),
    );
    result.games++;
    const gameId = accepted.gameId;
    // The adjudicator starts the game from the matchmaker's GameOpened: wait for it with the token.
    await timed("game started", () =>
      clients.adjudicator.getGame(
        { gameId, minSequence: 0n, consistencyToken: accepted.consistencyToken },
        { deadlineMs: 10_000 },
      ),
    );
    const moves: [MoveName, MoveName] = scenario.kind === "moves" ? scenario.moves : ["cooperate", "defect"];
    const sealed = [sealMove(moves[0]), sealMove(moves[1])] as const;
    await timed("commit", () => clients.adjudicator.commitMove(commitRequest(a, gameId, sealed[0])));
    if (scenario.kind === "no-show-commit") return void count("no-show");
    if (scenario.kind === "cancel") {
      // The identities a's credits admitted are excluded with it (identity's controlled-lineage rule).
      const lineage = [a.id];
      while (lineage.length > 0) {
        const id = lineage.pop()!;
        result.excluded.add(id);
        lineage.push(...(controlledBy.get(id) ?? []));
      }
      await clients.identity.exclude(
        signedExclude({ requestId: randomUUID(), memberId: a.id, reason: "workload: cancels its game" }),
      );
      return void count("cancelled");
    }
    await timed("commit", () => clients.adjudicator.commitMove(commitRequest(b, gameId, sealed[1])));
    await timed("reveal", () => clients.adjudicator.revealMove(revealRequest(a, gameId, sealed[0])));
    if (scenario.kind === "no-show-reveal") return void count("no-show");
    const last = await timed("reveal", () => clients.adjudicator.revealMove(revealRequest(b, gameId, sealed[1])));
    count(`${generic ? "generic " : ""}${Outcome[last.outcome]}`);
    if (generic) return;
    if (last.outcome === Outcome.OUTCOME_BOTH_COOPERATED) {
      result.admitted.push(candidate);
      parents.set(candidate.id, [a.id, b.id]);
      waiting.push(candidate);
    } else if (last.outcome !== Outcome.OUTCOME_BOTH_DEFECTED && rng() < 0.5) {
      const defector = last.outcome === Outcome.OUTCOME_A_DEFECTED ? a : b;
      // Identity grants the credits in reaction to the resolution: the reveal's token waits for it.
      const { member } = await timed("credits granted", () =>
        clients.identity.getMember(
          { memberId: defector.id, minSequence: 0n, consistencyToken: last.consistencyToken },
          { deadlineMs: 10_000 },
        ),
      );
      if (!member || member.credits < 1) throw new Error(`defector ${defector.id} has no credit after its game`);
      const controlled = newMember();
      await timed("redeem", () => clients.identity.redeemCredit(redeemRequest(defector, controlled)));
      result.controlled++;
      controlledBy.set(defector.id, [...(controlledBy.get(defector.id) ?? []), controlled.id]);
      // A controlled identity never stakes under the default policy: it does not join the players.
      result.admitted.push(controlled);
    }
  }

  while (result.games < options.games) {
    // Members admitted in earlier rounds join once the matchmaker knows them.
    const stillWaiting: Member[] = [];
    for (const member of waiting) {
      const known = await clients.matchmaker
        .getStake({ memberId: member.id, minSequence: 0n, consistencyToken: "" })
        .then(() => true)
        .catch(() => false);
      (known ? pool : stillWaiting).push(member);
    }
    waiting = stillWaiting;
    pool = shuffle(
      pool.filter((member) => !result.excluded.has(member.id)),
      rng,
    );
    const pairs: [Member, Member, Scenario][] = [];
    const unpaired = [...pool];
    while (unpaired.length > 1 && result.games + pairs.length < options.games) {
      const a = unpaired.shift()!;
      const index = unpaired.findIndex((b) => !related(a.id, b.id));
      if (index < 0) continue;
      const [b] = unpaired.splice(index, 1);
      const scenario = pick(rng);
      // Excluded members' controlled identities go with them: only a genesis member whose credits
      // admitted nobody is excluded.
      const sponsorless = genesis.has(a.id) && !controlledBy.has(a.id);
      pairs.push([a, b!, scenario.kind === "cancel" && !sponsorless ? SCENARIOS[0]![1] : scenario]);
    }
    await timed("rounds", () => inParallel(pairs, options.concurrency, ([a, b, scenario]) => play(a, b, scenario)));
    // First the deadlines pass (no-shows resolve, and their penalties start), then every period.
    result.now += DEADLINES_MS;
    await system.setClock(result.now);
    result.now += ROUND_MS;
    await system.setClock(result.now);
  }
  return result;
}

/** `member` redeems a credit for `controlled`, with `controlled`'s consent naming `member` as controller. */
export function redeemRequest(member: Member, controlled: Member, requestId = randomUUID()) {
  return signedRedeem(TEST_NETWORK, member, controlledConsent(controlled, member), requestId);
}

function shuffle<T>(items: T[], rng: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

export async function inParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(workers);
}

/**
 * Waits until the three services have applied everything on the three streams, reactions
 * included, and nothing new appears: each is asked once with a consistency token naming every
 * stream it follows at its current end, until a pass leaves the streams where they were.
 */
export async function settle(
  system: System,
  probe: { memberA: string; memberB: string },
): Promise<Record<string, number>> {
  const jsm = await jetstreamManager(system.nc);
  const lastOf = async (service: "identity" | "matchmaker" | "adjudicator") =>
    (await jsm.streams.info(streamNames(system.namespace, service).stream)).state.last_seq;
  const ends = async () => ({
    identity: await lastOf("identity"),
    matchmaker: await lastOf("matchmaker"),
    adjudicator: await lastOf("adjudicator"),
  });
  const token = (seqs: Record<string, number>, streams: string[]) =>
    streams
      .filter((stream) => (seqs[stream] ?? 0) > 0)
      .map((stream) => `${stream}:${seqs[stream]}`)
      .join(",");
  for (let pass = 1; pass <= 20; pass++) {
    const before = await ends();
    const options = { deadlineMs: 15_000 };
    await system.clients.identity.listMembers(
      {
        pageSize: 1,
        pageToken: "",
        status: 0,
        kind: 0,
        minSequence: 0n,
        consistencyToken: token(before, ["identity", "adjudicator"]),
      },
      options,
    );
    await system.clients.matchmaker.getPairCooldown(
      {
        memberId: probe.memberA,
        partnerId: probe.memberB,
        minSequence: 0n,
        consistencyToken: token(before, ["matchmaker", "identity", "adjudicator"]),
      },
      options,
    );
    await system.clients.adjudicator.listGames(
      {
        pageSize: 1,
        pageToken: "",
        memberId: "",
        phase: 0,
        outcome: 0,
        actionKind: "",
        minSequence: 0n,
        consistencyToken: token(before, ["adjudicator", "matchmaker"]),
      },
      options,
    );
    const after = await ends();
    if (JSON.stringify(after) === JSON.stringify(before)) return after;
  }
  throw new Error("the services kept appending events");
}
