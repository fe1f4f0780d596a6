import type { MoveName } from "@pot/mechanism";

/** How a demo player chooses its move. */
export type StrategyName = "always-cooperate" | "always-defect" | "tit-for-tat" | "random";

export const STRATEGIES: readonly StrategyName[] = ["always-cooperate", "always-defect", "tit-for-tat", "random"];

export interface Memory {
  /** What the last opponent played against this player, if it has played. */
  readonly lastOpponentMove?: MoveName;
}

/**
 * The move of a player. Tit-for-tat(-ish): partners change every game, so it cooperates first and
 * then plays what its previous opponent played against it.
 */
export function chooseMove(strategy: StrategyName, memory: Memory, random: () => number): MoveName {
  switch (strategy) {
    case "always-cooperate":
      return "cooperate";
    case "always-defect":
      return "defect";
    case "tit-for-tat":
      return memory.lastOpponentMove ?? "cooperate";
    case "random":
      return random() < 0.5 ? "cooperate" : "defect";
    default: {
      const unreachable: never = strategy;
      return unreachable;
    }
  }
}

/** A small seeded generator (mulberry32), so `--seed` replays the same demo choices. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Pairs players in a random order, skipping pairs that may not play together yet (the pair
 * cool-down); at most `limit` pairs. Each player appears in at most one pair.
 */
export function pairUp<T>(
  players: readonly T[],
  random: () => number,
  blocked: (a: T, b: T) => boolean,
  limit = Infinity,
): [T, T][] {
  const free = shuffle(players, random);
  const pairs: [T, T][] = [];
  while (free.length > 1 && pairs.length < limit) {
    const a = free.shift()!;
    const index = free.findIndex((b) => !blocked(a, b));
    if (index < 0) continue;
    const [b] = free.splice(index, 1);
    pairs.push([a, b!]);
  }
  return pairs;
}
