import type { MoveName, Policy } from "@pot/mechanism";
import { GrowthWorld, type Refusal } from "./growth-world.js";

/**
 * Attacker strategies against the pure deciders (GrowthWorld), from two colluding genesis identities
 * among honest genesis members, over a horizon of stake periods. The attacker tries every act its
 * strategy allows on the days it is active; the rules refuse what they refuse.
 *
 * What honest members do matters, and is the mechanism's premise: an honest sponsor vouches only for
 * candidates it knows. So honest members never accept an attacker's proposal (its candidate is the
 * attacker's), they propose their own candidates to anyone available (attackers included, the worst
 * case for "always-defect with partners"), and cooperate in those games.
 */
export type Strategy = "self-play-farm" | "cooperating-ring" | "always-defect-with-partners" | "tit-for-tat";

export const STRATEGIES: readonly Strategy[] = [
  "self-play-farm",
  "cooperating-ring",
  "always-defect-with-partners",
  "tit-for-tat",
];

export interface AttackOptions {
  readonly strategy: Strategy;
  readonly policy: Policy;
  /** Seed of the attacker's choices: order, partners, idle days, time of day. */
  readonly seed: number;
  /** Probability that the attacker acts on a given day. */
  readonly activity: number;
  /** Partners each attacker identity tries per active day. */
  readonly tries: number;
  readonly stakePeriods: number;
  readonly honestMembers: number;
  /** Stop early once the attacker holds more than this many identities (the exponential case). */
  readonly stopAbove: number;
}

export interface AttackResult {
  /** Attacker identities (its two, the candidates it got admitted, the controlled ones it redeemed). */
  readonly attackers: number;
  /** Attacker identities at the end of each stake period, from period 1. */
  readonly perPeriod: readonly number[];
  /** Stake periods played before the end or the early stop. */
  readonly periods: number;
  readonly games: number;
  readonly refusals: ReadonlyMap<string, number>;
  readonly world: GrowthWorld;
}

const DAY = 86_400_000;
export const T0 = Date.UTC(2027, 0, 1);

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export function runAttack(options: AttackOptions): AttackResult {
  const random = mulberry32(options.seed);
  const world = new GrowthWorld(options.policy, T0);
  const honest = world.genesis(options.honestMembers, "honest");
  world.genesis(2, "attacker");
  const stake = options.policy.admission.stakePeriodMs;
  // A day, or the stake period when it is shorter (a test policy): several chances per period.
  const step = Math.min(DAY, Math.max(1, Math.floor(stake / 7)));
  const horizon = T0 + options.stakePeriods * stake;
  const perPeriod: number[] = [];
  let games = 0;
  let now = T0;
  // Identities refused for good (PERMISSION_DENIED: a controlled identity under FORBIDDEN): an
  // attacker learns from the first refusal and stops offering them.
  const barred = new Set<string>();
  const candidates = () => world.owned("attacker").filter((id) => !barred.has(id));
  const learn = (refused: Refusal) => {
    if (refused.name !== "PermissionError") return;
    for (const id of world.owned("attacker")) if (refused.message.startsWith(`member ${id} `)) barred.add(id);
  };
  const tft = (id: string): MoveName => (world.lastOpponentMove.get(id) === "defect" ? "defect" : "cooperate");

  /** Each attacker identity, in random order, tries partners among the others until one game opens. */
  const attackersPlayEachOther = (moves: (x: string, y: string) => { proposer: MoveName; partner: MoveName }) => {
    const attackers = shuffled(candidates(), random);
    const busy = new Set<string>();
    for (const x of attackers) {
      if (busy.has(x)) continue;
      const partners = shuffled(
        attackers.filter((y) => y !== x && !busy.has(y)),
        random,
      ).slice(0, options.tries);
      for (const y of partners) {
        now += 10;
        const result = world.play(x, y, "attacker", moves(x, y), now);
        if ("outcome" in result) {
          games++;
          busy.add(x).add(y);
          break;
        }
        learn(result.refused);
        if (barred.has(x)) break;
      }
    }
  };

  /** Honest members propose their own candidates to attacker identities, which answer with `move`. */
  const honestProposeToAttackers = (move: (attacker: string) => MoveName) => {
    for (const x of shuffled(candidates(), random)) {
      for (const h of shuffled(honest, random).slice(0, options.tries)) {
        now += 10;
        const result = world.play(h, x, "honest", { proposer: "cooperate", partner: move(x) }, now);
        if ("outcome" in result) {
          games++;
          break;
        }
        learn(result.refused);
        // The attacker itself cannot play now: no other honest member would fare better.
        if (result.refused.message.includes(x)) break;
      }
    }
  };

  let nextPeriodEnd = T0 + stake;
  for (let day = T0 + step; day <= horizon; day += step) {
    while (day >= nextPeriodEnd) {
      perPeriod.push(world.owned("attacker").length);
      nextPeriodEnd += stake;
    }
    now = Math.max(now, day + Math.floor(random() * Math.min(step / 2, 3_600_000)));
    if (random() < options.activity) {
      switch (options.strategy) {
        case "self-play-farm":
          attackersPlayEachOther(() => ({ proposer: "defect", partner: "cooperate" }));
          break;
        case "cooperating-ring":
          attackersPlayEachOther(() => ({ proposer: "cooperate", partner: "cooperate" }));
          break;
        case "always-defect-with-partners":
          honestProposeToAttackers(() => "defect");
          break;
        case "tit-for-tat":
          attackersPlayEachOther((x, y) => ({ proposer: tft(x), partner: tft(y) }));
          honestProposeToAttackers(tft);
          break;
        default: {
          const unreachable: never = options.strategy;
          throw new Error(`unknown strategy ${String(unreachable)}`);
        }
      }
      for (const x of world.owned("attacker")) world.redeemAll(x, now);
    }
    if (world.owned("attacker").length > options.stopAbove) break;
  }
  const attackers = world.owned("attacker").length;
  return { attackers, perPeriod, periods: perPeriod.length, games, refusals: world.refusals, world };
}
