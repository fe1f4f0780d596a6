import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { bootstrapRequest, publishPolicyRequest } from "@pot/client";
import { GetMemberRequest, GetPolicyRequest, GetStakeRequest } from "@pot/contracts";
import { decodeEnvelope, EVENT_TYPE_HEADER, streamNames } from "@pot/event-store";
import { DEFAULT_POLICY, generateKeyPair, NO_RATE_TARGET, type Policy } from "@pot/mechanism";
import { isStatus, type Clients } from "./clients.js";
import { closedLoop, messageOf, openLoop, pool } from "./load.js";
import type { Observer } from "./observer.js";
import { AGREEMENT, BENCH_NETWORK, newPlayer, scriptGame, type GameScript, type Player } from "./players.js";
import { UsageWindow, type UsageReport, type Watched } from "./proc.js";
import { Latencies, ratePerSecond, type Percentiles } from "./stats.js";

/**
 * Periods of 1 ms, so that a pair of sponsors can play again as soon as its last game is settled
 * (pair_cooldown_ms must be at least stake_period_ms); deadlines of a minute, so that no game of the
 * bench ever reaches one.
 */
export const BENCH_POLICY: Omit<Policy, "version"> = {
  admission: {
    ...DEFAULT_POLICY.admission,
    stakePeriodMs: 1,
    penaltyPeriodMs: 1,
    noShowPenaltyMs: 1,
    commitWindowMs: 60_000,
    revealWindowMs: 60_000,
  },
  actionKinds: [],
  pairCooldownMs: 1,
  proposalTtlMs: 60_000,
  creditTtlMs: DEFAULT_POLICY.creditTtlMs,
  exclusionSponsorPenaltyMs: 0,
  // The same pairs play again and again, and nobody redeems credits: only the default's ban on
  // controlled identities staking is kept; maturity, quotas, caps and lineage are off.
  growth: {
    controlledStaking: "forbidden",
    maturityPeriodMs: 0,
    sponsorQuota: 0,
    sponsorQuotaWindowMs: 0,
    lineageDistance: 0,
    creditCap: 0,
    creditCapWindowMs: 0,
    pendingProposalCap: 0,
  },
  rateTarget: NO_RATE_TARGET,
};

/** What one game measures, by name; the RPCs are timed per attempt. */
export const MEASURES = [
  "Propose",
  "Accept",
  "accept -> GameStarted stored",
  "CommitMove",
  "RevealMove",
  "last reveal -> MemberAdmitted stored",
  "GetMember",
  "last reveal -> member visible",
  "whole game",
] as const;
export type Measure = (typeof MEASURES)[number];
export const RPCS: readonly Measure[] = ["Propose", "Accept", "CommitMove", "RevealMove", "GetMember"];

/**
 * Ed25519 signatures a cooperative admission game has checked: the matchmaker's proposal, consent
 * and acceptance, the adjudicator's two commitments and two reveals.
 */
export const SIGNATURES_PER_GAME = { matchmaker: 3, adjudicator: 4 } as const;

class Recorder {
  readonly latencies = new Map<Measure, Latencies>(MEASURES.map((name) => [name, new Latencies()]));
  retries = 0;

  record(name: Measure, ms: number): void {
    this.latencies.get(name)!.record(ms);
  }

  async time<T>(name: Measure, work: () => Promise<T>): Promise<T> {
    return this.latencies.get(name)!.time(work);
  }

  summary(): Record<Measure, Percentiles> {
    return Object.fromEntries([...this.latencies].map(([name, latencies]) => [name, latencies.summary()])) as Record<
      Measure,
      Percentiles
    >;
  }
}

/** Pairs of genesis members, handed out least recently used first, so a pair rests between its games. */
class PairPool {
  private readonly free: [Player, Player][];

  constructor(pairs: readonly [Player, Player][]) {
    this.free = [...pairs];
  }

  get size(): number {
    return this.free.length;
  }

  acquire(): [Player, Player] | undefined {
    return this.free.shift();
  }

  release(pair: [Player, Player]): void {
    this.free.push(pair);
  }
}

const WAIT_MS = 15_000;
const RETRY_MS = 5;
const MAX_RETRIES = 400;

/** The three services under test, their genesis members, and a way to play games on them. */
export class Arena {
  private readonly pool: PairPool;

  constructor(
    /** Replaced when the services are restarted (for the profile). */
    public clients: Clients,
    private readonly observer: Observer,
    readonly players: readonly Player[],
  ) {
    const pairs: [Player, Player][] = [];
    for (let index = 0; index + 1 < players.length; index += 2) pairs.push([players[index]!, players[index + 1]!]);
    this.pool = new PairPool(pairs);
  }

  get pairs(): number {
    return this.pool.size;
  }

  /**
   * One cooperative game, end to end, from a free pair: propose, accept, both commits, both reveals
   * (each pair of moves sent at once, as two players would), then the candidate's admission on
   * identity's stream and in its read model (GetMember with the admission's sequence).
   */
  async playOne(recorder: Recorder | undefined): Promise<void> {
    const pair = this.pool.acquire();
    if (!pair) throw new Error("no free pair of sponsors (raise the genesis size)");
    try {
      await this.play(scriptGame(...pair), recorder);
    } finally {
      this.pool.release(pair);
    }
  }

  /** Opens a game (propose, accept, GameStarted stored) and returns its script; the pair stays taken. */
  async open(): Promise<{ script: GameScript; release(): void }> {
    const pair = this.pool.acquire();
    if (!pair) throw new Error("no free pair of sponsors (raise the genesis size)");
    const script = scriptGame(...pair);
    try {
      await this.retrying(() => this.clients.matchmaker.propose(script.propose));
      await this.retrying(() => this.clients.matchmaker.accept(script.accept));
      await this.observer.started.wait(script.gameId, WAIT_MS, `game ${script.gameId} to start`);
    } catch (error) {
      this.pool.release(pair);
      throw error;
    }
    return { script, release: () => this.pool.release(pair) };
  }

  async play(script: GameScript, recorder: Recorder | undefined): Promise<void> {
    const { clients, observer } = this;
    const begin = performance.now();
    await this.retrying(() => time(recorder, "Propose", () => clients.matchmaker.propose(script.propose)), recorder);
    await this.retrying(() => time(recorder, "Accept", () => clients.matchmaker.accept(script.accept)), recorder);
    const accepted = performance.now();
    await observer.started.wait(script.gameId, WAIT_MS, `game ${script.gameId} to start`);
    recorder?.record("accept -> GameStarted stored", performance.now() - accepted);
    await Promise.all(
      script.commits.map((commit) => time(recorder, "CommitMove", () => clients.adjudicator.commitMove(commit))),
    );
    await Promise.all(
      script.reveals.map((reveal) => time(recorder, "RevealMove", () => clients.adjudicator.revealMove(reveal))),
    );
    const revealed = performance.now();
    const seq = await observer.admitted.wait(
      script.candidateId,
      WAIT_MS,
      `member ${script.candidateId} to be admitted`,
    );
    recorder?.record("last reveal -> MemberAdmitted stored", performance.now() - revealed);
    const { member } = await time(recorder, "GetMember", () =>
      clients.identity.getMember(
        GetMemberRequest.fromPartial({ memberId: script.candidateId, minSequence: BigInt(seq) }),
      ),
    );
    if (member?.memberId !== script.candidateId) throw new Error(`GetMember did not return ${script.candidateId}`);
    const visible = performance.now();
    recorder?.record("last reveal -> member visible", visible - revealed);
    recorder?.record("whole game", visible - begin);
  }

  /** Retries a call refused with FAILED_PRECONDITION: a sponsor's previous game not yet settled by the matchmaker. */
  async retrying<T>(call: () => Promise<T>, recorder?: Recorder): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (!isStatus(error, grpc.status.FAILED_PRECONDITION) || attempt > MAX_RETRIES) throw error;
        if (recorder) recorder.retries++;
        await sleep(RETRY_MS);
      }
    }
  }
}

function time<T>(recorder: Recorder | undefined, name: Measure, work: () => Promise<T>): Promise<T> {
  return recorder ? recorder.time(name, work) : work();
}

export interface SetupResult {
  readonly genesisMembers: number;
  readonly ms: number;
  readonly policyVersion: number;
}

/** The bench network's operator key (1 of 1): it names it at genesis and signs the policy and forced bootstraps. */
const BENCH_OPERATOR = generateKeyPair();

/**
 * Bootstraps `members` genesis members (1000 per call, the later calls forced, each signed by the
 * operator key) and publishes the bench policy, then waits until the matchmaker has adopted the
 * policy and registered them all.
 */
export async function setUpArena(
  clients: Clients,
  nc: NatsConnection,
  namespace: string,
  members: number,
): Promise<{ players: Player[]; setup: SetupResult }> {
  const started = performance.now();
  const players = Array.from({ length: members }, () => newPlayer());
  for (let offset = 0; offset < members; offset += 1_000) {
    const batch = players.slice(offset, offset + 1_000);
    await clients.identity.bootstrap(
      bootstrapRequest(
        BENCH_NETWORK,
        batch.map((player, index) => ({ publicKey: player.publicKey, displayName: `bench-${offset + index}` })),
        AGREEMENT,
        { force: offset > 0, signers: [BENCH_OPERATOR], bootstrapsBefore: offset / 1_000 },
      ),
    );
  }
  // After the genesis: the adjudicator checks the policy's signature against the keys it names.
  const current = (await clients.adjudicator.getPolicy(GetPolicyRequest.fromPartial({}))).policy?.version ?? 0;
  const published = await clients.adjudicator.publishPolicy(
    publishPolicyRequest(BENCH_NETWORK, { version: 0, ...BENCH_POLICY }, current + 1, [BENCH_OPERATOR]),
  );
  await waitForPolicy(nc, namespace, published.version);
  await pool(players, 32, async (player) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await clients.matchmaker.getStake(GetStakeRequest.fromPartial({ memberId: player.id }));
      } catch (error) {
        if (!isStatus(error, grpc.status.NOT_FOUND) || attempt > 3_000) throw error;
        await sleep(20);
      }
    }
  });
  return {
    players,
    setup: { genesisMembers: members, ms: Math.round(performance.now() - started), policyVersion: published.version },
  };
}

/** Scans the matchmaker's stream until it holds PolicyAdopted of `version`. */
async function waitForPolicy(
  nc: NatsConnection,
  namespace: string,
  version: number,
  timeoutMs = 30_000,
): Promise<void> {
  const names = streamNames(namespace, "matchmaker");
  const consumer = await jetstream(nc).consumers.get(names.stream, { deliver_policy: DeliverPolicy.All });
  const messages = await consumer.consume({ max_messages: 1_000 });
  const timer = setTimeout(() => void messages.close(), timeoutMs);
  try {
    for await (const message of messages) {
      if (message.headers?.get(EVENT_TYPE_HEADER) !== "pot.v1.PolicyAdopted") continue;
      const event = decodeEnvelope(message.data).event;
      if (event?.$case === "policyAdopted" && (event.value.policy?.version ?? 0) >= version) return;
    }
    throw new Error(`the matchmaker did not adopt policy v${version} within ${timeoutMs} ms`);
  } finally {
    clearTimeout(timer);
    await messages.close();
  }
}

export interface StepResult {
  /** Closed loop: games played at once; undefined for an open-loop run. */
  readonly concurrency?: number;
  /** Open loop: games started per second. */
  readonly offeredRate?: number;
  readonly gamesPerSecond: number;
  readonly completed: number;
  readonly failed: number;
  readonly errors: readonly string[];
  /** Propose/Accept calls repeated because a sponsor's last game was not settled yet. */
  readonly retries: number;
  readonly latency: Record<Measure, Percentiles>;
  readonly usage: UsageReport;
}

/** `concurrency` players' pairs play games back to back; games that complete in the window count. */
export async function closedStep(
  arena: Arena,
  concurrency: number,
  options: { warmupMs: number; stepMs: number; watched: readonly Watched[]; onMeasuring?: () => void },
): Promise<StepResult> {
  const recorder = new Recorder();
  let measuring = false;
  setTimeout(() => {
    measuring = true;
    options.onMeasuring?.();
  }, options.warmupMs).unref();
  let usage: UsageWindow | undefined;
  const usageTimer = setTimeout(() => (usage = new UsageWindow(options.watched)), options.warmupMs);
  const result = await closedLoop(concurrency, options.stepMs, () => arena.playOne(measuring ? recorder : undefined), {
    warmupMs: options.warmupMs,
  });
  clearTimeout(usageTimer);
  return {
    concurrency,
    gamesPerSecond: ratePerSecond(result.completed, result.ms),
    completed: result.completed,
    failed: result.failed,
    errors: result.errors,
    retries: recorder.retries,
    latency: recorder.summary(),
    usage: (usage ?? new UsageWindow(options.watched)).end(),
  };
}

/** Games started at a fixed rate, whatever their latency: the latencies at that load. */
export async function openStep(
  arena: Arena,
  rate: number,
  options: { durationMs: number; watched: readonly Watched[] },
): Promise<StepResult> {
  const recorder = new Recorder();
  const usage = new UsageWindow(options.watched);
  const result = await openLoop(rate, options.durationMs, () => arena.playOne(recorder), {
    maxInFlight: Math.max(1, arena.pairs - 1),
  });
  return {
    offeredRate: rate,
    gamesPerSecond: ratePerSecond(result.completed, result.ms),
    completed: result.completed,
    failed: result.failed + result.dropped,
    errors: result.dropped > 0 ? [...result.errors, `${result.dropped} arrivals found no free pair`] : result.errors,
    retries: recorder.retries,
    latency: recorder.summary(),
    usage: usage.end(),
  };
}

export interface FullStackResult {
  readonly setup: SetupResult;
  readonly steps: readonly StepResult[];
  /** Highest games/s of the closed-loop steps. */
  readonly saturationGamesPerSecond: number;
  readonly saturationConcurrency: number;
  readonly halfSaturation: StepResult | undefined;
}

/** Raises the concurrency until the games rate stops growing, then runs at half that rate. */
export async function runFullStack(
  arena: Arena,
  setup: SetupResult,
  options: {
    concurrencies: readonly number[];
    warmupMs: number;
    stepMs: number;
    halfRateMs: number;
    watched: readonly Watched[];
    log: (line: string) => void;
  },
): Promise<FullStackResult> {
  const steps: StepResult[] = [];
  let best: StepResult | undefined;
  let flat = 0;
  for (const concurrency of options.concurrencies) {
    if (concurrency >= arena.pairs) break;
    const step = await closedStep(arena, concurrency, options);
    steps.push(step);
    const game = step.latency["whole game"];
    options.log(
      `  ${String(concurrency).padStart(3)} at once: ${step.gamesPerSecond} games/s, game p50 ${game.p50} ms p99 ${game.p99} ms` +
        (step.failed > 0 ? `, ${step.failed} failed (${step.errors[0] ?? ""})` : "") +
        `, CPU ${step.usage.machineCpuPercent}% of ${step.usage.cores * 100}%`,
    );
    if (step.failed > 0.05 * (step.completed + step.failed)) break;
    if (best === undefined || step.gamesPerSecond > best.gamesPerSecond * 1.1) flat = 0;
    else flat++;
    if (best === undefined || step.gamesPerSecond > best.gamesPerSecond) best = step;
    if (flat >= 2) break;
  }
  const saturation = best?.gamesPerSecond ?? 0;
  let halfSaturation: StepResult | undefined;
  if (saturation >= 2) {
    halfSaturation = await openStep(arena, saturation / 2, {
      durationMs: options.halfRateMs,
      watched: options.watched,
    });
    const visible = halfSaturation.latency["last reveal -> member visible"];
    options.log(
      `  half saturation (${Math.round(saturation / 2)} games/s offered): ${halfSaturation.gamesPerSecond} games/s, ` +
        `reveal -> visible p99 ${visible.p99} ms`,
    );
  }
  return {
    setup,
    steps,
    saturationGamesPerSecond: saturation,
    saturationConcurrency: best?.concurrency ?? 0,
    halfSaturation,
  };
}

export { messageOf };
