import type { MoveName, Policy } from "@pot/mechanism";
import { growthRefusal, lineageRefusal, pairKey, pendingProposalRefusal, unavailability } from "@pot/matchmaker/domain";
import { availableCredits } from "@pot/identity/domain";
import { keyFromSeed, type SimKey } from "./keys.js";
import { Random } from "./random.js";
import { TrustBoard } from "./trust.js";
import type { Retarget } from "@pot/adjudicator/domain";
import { World, type GameResolved, type MemberAdmitted, type Refusal } from "./world.js";

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
/** Day 0 of every simulation (a fixed instant, so runs are reproducible). */
export const SIMULATION_START = Date.UTC(2027, 0, 4);

export const ATTACKER_STRATEGIES = [
  "always-defect",
  "tit-for-tat",
  "self-play-farm",
  "cooperating-ring",
  "invite-seller",
  "griefer",
] as const;
export type AttackerStrategy = (typeof ATTACKER_STRATEGIES)[number];
/** "denier": an otherwise honest member who defects on every candidate it is asked to co-sponsor. */
export type Strategy = "honest" | "denier" | AttackerStrategy;

export function isAttackerStrategy(value: string): value is AttackerStrategy {
  return (ATTACKER_STRATEGIES as readonly string[]).includes(value);
}

export interface SimulationConfig {
  readonly seed: number;
  /** A name for tables and file names, e.g. "default" or "legacy". */
  readonly policyName: string;
  readonly policy: Omit<Policy, "version">;
  /**
   * true: the policy is taken as an event already in the log (how an old network replays a policy that
   * today's validation would refuse, e.g. the legacy one); false: published through PublishPolicy.
   */
  readonly policyFromLog: boolean;
  /** Simulated days. */
  readonly days: number;
  /** Honest genesis members. */
  readonly honest: number;
  /** Genesis members who behave honestly but deny (defect on) every candidate they co-sponsor. */
  readonly deniers: number;
  /** Colluding groups per attacker strategy, each of `groupSize` genesis members. */
  readonly groups: Readonly<Partial<Record<AttackerStrategy, number>>>;
  readonly groupSize: number;
  /** Genuine candidates arriving per honest member per year (the demand for honest growth). */
  readonly honestGrowthPerYear: number;
  /** Honest members who know each genuine candidate (the ones who may propose it). */
  readonly acquaintances: number;
  /** Probability that an honest co-sponsor recognises a fake candidate (and defects on it). */
  readonly detection: number;
  /** A group stops growing at this many identities (an exponential strategy is cut here and flagged). */
  readonly maxGroupIdentities: number;
  /** Every attacker group stops once all of them together hold this many identities. */
  readonly maxAttackerIdentities: number;
  /** Days between two rows of the time series. */
  readonly sampleEveryDays: number;
}

export const DEFAULT_SIMULATION: Omit<SimulationConfig, "policy" | "policyName" | "policyFromLog"> = {
  seed: 1,
  days: 730,
  honest: 7_000,
  deniers: 0,
  groups: Object.fromEntries(ATTACKER_STRATEGIES.map((s) => [s, 250])),
  groupSize: 2,
  honestGrowthPerYear: 0.5,
  acquaintances: 3,
  detection: 0.8,
  maxGroupIdentities: 1_000,
  maxAttackerIdentities: 20_000,
  sampleEveryDays: 7,
};

interface Group {
  readonly id: number;
  readonly strategy: AttackerStrategy;
  readonly members: Agent[];
  /** Stopped: it reached maxGroupIdentities itself (capped) or all attackers reached maxAttackerIdentities. */
  capped: boolean;
  stopped: boolean;
  /** Identities admitted by games (fakes the group got co-sponsored) and by credits. */
  byGames: number;
  byCredits: number;
  /** Days of staking suspension its identities were given. */
  suspendedMs: number;
}

interface Agent {
  readonly key: SimKey;
  readonly strategy: Strategy;
  readonly group: Group | undefined;
  active: boolean;
  /** No proposal before this time (set after a refusal that may lift). */
  idleUntil: number;
  /** Stopped proposing for good: the deciders refused it permission. */
  retired: boolean;
  /** May hold credits to redeem (set when credits are granted). */
  credits: boolean;
  /** The public trust state no longer calls it clean; it never will again (TrustBoard.clean is monotone). */
  shunned: boolean;
}

interface Candidate {
  readonly key: SimKey;
  readonly genuine: boolean;
  /** The attacker group a fake candidate belongs to. */
  readonly group: Group | undefined;
  readonly arrivedAt: number;
  readonly acquaintances: readonly Agent[];
  admittedAt: number | undefined;
  /** A proposal or a game for it is under way. */
  busy: boolean;
}

interface ProposalRecord {
  readonly id: string;
  readonly proposer: Agent;
  readonly partner: Agent;
  readonly candidate: Candidate;
  moves: [MoveName | undefined, MoveName | undefined];
  nonces: [Uint8Array | undefined, Uint8Array | undefined];
}

/** One row of the time series. */
export interface Sample {
  readonly day: number;
  readonly members: number;
  readonly genesis: number;
  readonly sponsored: number;
  readonly tainted: number;
  readonly controlled: number;
  readonly excluded: number;
  readonly honest: number;
  readonly attackers: Readonly<Record<AttackerStrategy, number>>;
  readonly candidatesArrived: number;
  readonly candidatesAdmitted: number;
  readonly candidatesWaiting: number;
  /** Genuine candidates admitted since the previous row, per day. */
  readonly admissionsPerDay: number;
  /** Mean wait (days from arrival to admission) of the candidates admitted since the previous row. */
  readonly meanWaitDays: number;
  /** The admission stake period in force (retargeted under a rate target), in days. */
  readonly stakePeriodDays: number;
}

export interface StrategySummary {
  readonly strategy: AttackerStrategy;
  readonly groups: number;
  readonly start: number;
  readonly end: number;
  /** The largest group at the end. */
  readonly maxGroup: number;
  /** groupSize + 2 x stake periods elapsed: the linear bound each group must stay within. */
  readonly bound: number;
  readonly withinBound: boolean;
  /** Some group reached maxGroupIdentities and was stopped there. */
  readonly capped: boolean;
  /** All attackers together reached maxAttackerIdentities and were stopped before the end. */
  readonly stopped: boolean;
  readonly byGames: number;
  readonly byCredits: number;
  /** Days of staking suspension, summed over the strategy's identities. */
  readonly suspendedDays: number;
  /** Identities at the end that honest members would still stake with (TrustBoard.clean). */
  readonly trusted: number;
}

export interface HonestSummary {
  readonly membersStart: number;
  readonly membersEnd: number;
  readonly candidates: number;
  readonly admitted: number;
  /** Candidates that arrived at least two proposal TTLs before the end. */
  readonly eligible: number;
  /** Of those, admitted within two proposal TTLs of arriving. */
  readonly admittedWithinTwoTtls: number;
  readonly shareWithinTwoTtls: number;
  readonly medianWaitDays: number;
  readonly p90WaitDays: number;
  /** Days of staking suspension, summed over the honest members. */
  readonly suspendedDays: number;
  /** Honest members at the end that other honest members would still stake with. */
  readonly trusted: number;
}

export interface SimulationResult {
  readonly config: SimulationConfig;
  readonly stakePeriods: number;
  readonly samples: readonly Sample[];
  readonly strategies: readonly StrategySummary[];
  readonly honest: HonestSummary;
  readonly deniers: { readonly members: number; readonly suspendedDays: number };
  readonly gamesOpened: number;
  /** The adjudicator's retargets of the stake period (a policy with a rate target), oldest first. */
  readonly retargets: readonly Retarget[];
  readonly outcomes: Readonly<Record<string, number>>;
  readonly refusals: Readonly<Record<string, number>>;
  /** Proposals and acceptances the deciders refused, by the strategy of the agent that made them. */
  readonly refusedActs: Readonly<Partial<Record<Strategy, number>>>;
  readonly events: number;
  readonly members: number;
}

const AGREEMENT = { hash: new Uint8Array(32).fill(7), uri: "https://example.org/pot/simulated-agreement" };

function halted(group: Group): boolean {
  return group.capped || group.stopped;
}

function uuid(prefix: number, n: number): string {
  return `${prefix.toString(16).padStart(8, "0")}-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

/**
 * One simulated network: the world (the real deciders), the agents and their strategies, the public
 * trust board, and the honest candidates' queue. `step()` plays one day; `run()` plays them all.
 * Everything random comes from one seeded generator, in a fixed order: the same config gives the same
 * result.
 */
export class Simulation {
  readonly world: World;
  readonly board = new TrustBoard();
  readonly rng: Random;
  readonly agents = new Map<string, Agent>();
  /** Every agent ever admitted, in admission order (random partner picks index into it). */
  readonly everyone: Agent[] = [];
  readonly groups: Group[] = [];
  readonly samples: Sample[] = [];
  day = 0;

  private readonly candidates = new Map<string, Candidate>();
  private waiting: Candidate[] = [];
  private readonly pendingControlled = new Map<string, Group>();
  private readonly proposals = new Map<string, ProposalRecord>();
  private readonly refusals = new Map<string, number>();
  /** Proposals and acceptances the deciders refused, by the strategy of the agent that made them. */
  private readonly refusedActs = new Map<Strategy, number>();
  private readonly outcomes = new Map<string, number>();
  private readonly waits: number[] = [];
  private readonly kinds = { genesis: 0, sponsored: 0, tainted: 0, controlled: 0, excluded: 0 };
  private honestCount = 0;
  private attackerTotal = 0;
  private honestStart = 0;
  private gamesOpened = 0;
  private idCounter = 0;
  private arrived = 0;
  private admittedTotal = 0;
  private lastSample = { day: 0, admitted: 0, waitSum: 0 };
  private waitSum = 0;
  private deniersSuspendedMs = 0;
  private honestSuspendedMs = 0;
  private readonly deniersList: Agent[] = [];
  /** Honest members and deniers, in admission order (the ones who know genuine candidates). */
  private readonly honestAgents: Agent[] = [];
  /** Every genuine candidate that ever arrived, in arrival order. */
  private readonly genuineLog: Candidate[] = [];
  private reserved = new Set<Agent>();
  /**
   * Today's growthRefusal verdicts, by agent. Within the proposal round only the agents that propose
   * or open a game change what the rules say of them, and those are reserved for the day.
   */
  private growthVerdicts = new Map<Agent, boolean>();
  /** lineageRefusal verdicts under policy `lineageVersion`, by pair (the agent with the lower id first). */
  private lineageVerdicts = new Map<Agent, Map<Agent, boolean>>();
  private lineageVersion = 0;
  private readonly pairables = new Map<Group, { size: number; version: number; members: readonly Agent[] }>();

  constructor(readonly config: SimulationConfig) {
    this.rng = new Random(config.seed);
    this.world = new World({
      memberAdmitted: (event) => this.onAdmitted(event),
      memberExcluded: (event) => {
        this.board.excluded(event.memberId);
        const agent = this.agents.get(event.memberId);
        if (agent) agent.active = false;
        this.kinds.excluded++;
      },
      gameResolved: (event) => this.onResolved(event),
      creditsGranted: (memberId, count) => {
        const agent = this.agents.get(memberId);
        if (agent && count > 0) agent.credits = true;
      },
      refused: (command, refusal) => this.countRefusal(command, refusal),
    });
    this.setUp();
  }

  get now(): number {
    return SIMULATION_START + this.day * DAY;
  }

  get policy(): Policy {
    const policy = this.world.policies.versions[this.world.policies.versions.length - 1];
    if (!policy) throw new Error("no policy");
    return policy;
  }

  private newKey(): SimKey {
    return keyFromSeed(this.rng.bytes(32));
  }

  private nextId(): string {
    return uuid(this.config.seed, ++this.idCounter);
  }

  private setUp(): void {
    const { config } = this;
    const genesis: { key: SimKey; strategy: Strategy; group: Group | undefined }[] = [];
    for (let i = 0; i < config.honest; i++) genesis.push({ key: this.newKey(), strategy: "honest", group: undefined });
    for (let i = 0; i < config.deniers; i++) genesis.push({ key: this.newKey(), strategy: "denier", group: undefined });
    for (const strategy of ATTACKER_STRATEGIES) {
      for (let g = 0; g < (config.groups[strategy] ?? 0); g++) {
        const group: Group = {
          id: this.groups.length,
          strategy,
          members: [],
          capped: false,
          stopped: false,
          byGames: 0,
          byCredits: 0,
          suspendedMs: 0,
        };
        this.groups.push(group);
        for (let i = 0; i < config.groupSize; i++) genesis.push({ key: this.newKey(), strategy, group });
      }
    }
    for (const { key, strategy, group } of genesis) this.addAgent(key, strategy, group);
    // Genesis first: it names the operator key that signs the policy.
    this.world.bootstrap(
      genesis.map((g) => g.key.publicKey),
      AGREEMENT,
      this.now,
    );
    if (config.policyFromLog) this.world.adoptLoggedPolicy(config.policy);
    else this.world.publishPolicy(config.policy, this.now);
    this.honestStart = this.honestCount;
  }

  private addAgent(key: SimKey, strategy: Strategy, group: Group | undefined): Agent {
    const agent: Agent = {
      key,
      strategy,
      group,
      active: true,
      idleUntil: 0,
      retired: false,
      credits: false,
      shunned: false,
    };
    this.agents.set(key.id, agent);
    this.everyone.push(agent);
    group?.members.push(agent);
    if (strategy === "honest") this.honestCount++;
    if (group) this.attackerTotal++;
    if (strategy === "denier") this.deniersList.push(agent);
    if (strategy === "honest" || strategy === "denier") this.honestAgents.push(agent);
    return agent;
  }

  private countRefusal(command: string, refusal: Refusal): void {
    const key = `${command}: ${refusal.code}`;
    this.refusals.set(key, (this.refusals.get(key) ?? 0) + 1);
  }

  // ---- reactions to the world --------------------------------------------------------------------------

  private onAdmitted(event: MemberAdmitted): void {
    this.board.admitted(event);
    const record = this.board.records.get(event.memberId);
    if (event.kind === "genesis") this.kinds.genesis++;
    else if (event.kind === "controlled") this.kinds.controlled++;
    else if (record?.tainted) this.kinds.tainted++;
    else this.kinds.sponsored++;
    if (event.kind === "genesis") return; // agents created in setUp
    if (event.kind === "controlled") {
      const group = this.pendingControlled.get(event.memberId);
      const controller = this.agents.get(event.controllerId);
      const owner = group ?? controller?.group;
      if (!owner || !controller) return;
      this.pendingControlled.delete(event.memberId);
      owner.byCredits++;
      // The key was made by the controller when it redeemed; the agent keeps it.
      const key = this.controlledKeys.get(event.memberId);
      if (!key) return;
      this.controlledKeys.delete(event.memberId);
      this.addAgent(key, owner.strategy, owner);
      this.checkCap(owner);
      return;
    }
    const candidate = this.candidates.get(event.memberId);
    if (!candidate) return;
    candidate.admittedAt = event.admittedAt;
    candidate.busy = false;
    this.candidates.delete(event.memberId);
    if (candidate.genuine) {
      this.addAgent(candidate.key, "honest", undefined);
      this.admittedTotal++;
      const wait = event.admittedAt - candidate.arrivedAt;
      this.waits.push(wait);
      this.waitSum += wait;
    } else if (candidate.group) {
      candidate.group.byGames++;
      this.addAgent(candidate.key, candidate.group.strategy, candidate.group);
      this.checkCap(candidate.group);
    }
  }

  private readonly controlledKeys = new Map<string, SimKey>();

  private checkCap(group: Group): void {
    if (group.members.length >= this.config.maxGroupIdentities) group.capped = true;
    if (this.attackerTotal >= this.config.maxAttackerIdentities) for (const g of this.groups) g.stopped = true;
  }

  private onResolved(event: GameResolved): void {
    this.board.resolved(event);
    this.outcomes.set(event.outcome, (this.outcomes.get(event.outcome) ?? 0) + 1);
    for (const suspension of event.suspensions) {
      const agent = this.agents.get(suspension.memberId);
      const days = suspension.untilMs - event.resolvedAt;
      if (agent?.strategy === "denier") this.deniersSuspendedMs += days;
      if (agent?.strategy === "honest") this.honestSuspendedMs += days;
      if (agent?.group) agent.group.suspendedMs += days;
    }
    const record = this.proposals.get(event.gameId);
    if (!record) return;
    this.proposals.delete(event.gameId);
    if (!event.admitted) record.candidate.busy = false;
  }

  // ---- one day -------------------------------------------------------------------------------------------

  run(): SimulationResult {
    while (this.day < this.config.days) this.step();
    return this.result();
  }

  step(): void {
    const t0 = this.now;
    this.reserved = new Set();
    this.growthVerdicts = new Map();
    for (const gameId of [...this.world.openGames.keys()]) this.world.tick(gameId, t0);
    this.world.retargetDue(t0);
    this.redeemCredits(t0);
    this.arrivals(t0);
    const today = this.proposeAll(t0 + HOUR);
    const games = this.answerAll(today, t0 + 2 * HOUR);
    this.commitAll(games, t0 + 3 * HOUR);
    this.revealAll(games, t0 + 4 * HOUR);
    this.day++;
    if (this.day % this.config.sampleEveryDays === 0 || this.day === this.config.days) this.sample();
  }

  /** May the agent stake now, as far as the public state tells it (the deciders have the last word)? */
  private free(agent: Agent, now: number): boolean {
    return (
      agent.active &&
      !agent.retired &&
      agent.idleUntil <= now &&
      !this.reserved.has(agent) &&
      unavailability(this.world.ledger, agent.key.id, now) === undefined
    );
  }

  private cooling(a: Agent, b: Agent, now: number): boolean {
    return (this.world.ledger.pairCooldowns.get(pairKey(a.key.id, b.key.id)) ?? 0) > now;
  }

  /**
   * The group's members that lineage lets sponsor with at least one other member of the group (the
   * only ones a farm or ring can pair); recomputed when the group grows or the policy changes.
   */
  private pairable(group: Group): readonly Agent[] {
    const version = this.world.ledger.policy?.version ?? 0;
    const cached = this.pairables.get(group);
    if (cached && cached.size === group.members.length && cached.version === version) return cached.members;
    const members = group.members.filter((a) => group.members.some((b) => b !== a && this.lineageAllows(a, b)));
    this.pairables.set(group, { size: group.members.length, version, members });
    return members;
  }

  /** TrustBoard.clean, remembered once false (misbehaviour, taint and exclusion are never undone). */
  private clean(agent: Agent): boolean {
    if (agent.shunned) return false;
    if (this.board.clean(agent.key.id)) return true;
    agent.shunned = true;
    return false;
  }

  /**
   * Whether the agent may stake now under the growth rules, by the matchmaker's own pure checks
   * (`growthRefusal`: a controlled identity, maturity, the sponsor quota) on the public ledger: agents
   * know the rules and do not ask for what the deciders refuse. A refusal that never lifts retires it.
   */
  private mayStake(agent: Agent, now: number, cached = true): boolean {
    if (!this.free(agent, now)) return false;
    const verdict = cached ? this.growthVerdicts.get(agent) : undefined;
    if (verdict !== undefined) return verdict;
    const policy = this.world.ledger.policy;
    if (!policy) return false;
    const refusal = growthRefusal(this.world.ledger, policy, agent.key.id, now);
    if (refusal?.code === "permission") agent.retired = true;
    this.growthVerdicts.set(agent, refusal === undefined);
    return refusal === undefined;
  }

  /** mayStake, and room for one more proposal waiting for an answer (the pending-proposal cap). */
  private mayPropose(agent: Agent, now: number, cached = true): boolean {
    const policy = this.world.ledger.policy;
    return (
      this.mayStake(agent, now, cached) &&
      policy !== undefined &&
      pendingProposalRefusal(this.world.ledger, policy, agent.key.id, now) === undefined
    );
  }

  /** Whether the two may sponsor one game together: no pair cool-down, not related within the lineage distance. */
  private mayPair(a: Agent, b: Agent, now: number): boolean {
    return this.lineageAllows(a, b) && !this.cooling(a, b, now);
  }

  /** lineageRefusal's verdict on the pair; lineage is fixed at admission, so one verdict per pair and policy version. */
  private lineageAllows(a: Agent, b: Agent): boolean {
    const policy = this.world.ledger.policy;
    if (policy === undefined) return false;
    if (this.lineageVersion !== policy.version) {
      this.lineageVerdicts = new Map();
      this.lineageVersion = policy.version;
    }
    const [x, y] = a.key.id < b.key.id ? [a, b] : [b, a];
    let row = this.lineageVerdicts.get(x);
    if (!row) this.lineageVerdicts.set(x, (row = new Map()));
    let allowed = row.get(y);
    if (allowed === undefined) {
      allowed = lineageRefusal(this.world.ledger, policy, x.key.id, y.key.id) === undefined;
      row.set(y, allowed);
    }
    return allowed;
  }

  /**
   * Whether the deciders would take the proposal now and its acceptance an hour later, as far as the
   * agents can tell from the public state: the checks the agents make before they propose. Exposed for tests.
   */
  wouldOpen(proposerId: string, partnerId: string, now: number): boolean {
    const proposer = this.agents.get(proposerId);
    const partner = this.agents.get(partnerId);
    if (!proposer || !partner || proposer === partner) return false;
    return (
      this.mayPropose(proposer, now, false) &&
      this.mayStake(partner, now, false) &&
      this.mayPair(proposer, partner, now)
    );
  }

  private redeemCredits(now: number): void {
    for (const group of this.groups) {
      if (halted(group)) continue;
      for (const agent of [...group.members]) {
        if (!agent.credits || !agent.active) continue;
        agent.credits = false;
        let left = availableCredits(this.world.member(agent.key.id), now);
        while (left-- > 0 && !halted(group)) {
          const key = this.newKey();
          this.pendingControlled.set(key.id, group);
          this.controlledKeys.set(key.id, key);
          if (this.world.redeem(agent.key, key, this.nextId(), now)) {
            this.pendingControlled.delete(key.id);
            this.controlledKeys.delete(key.id);
            break;
          }
        }
      }
    }
  }

  private arrivals(now: number): void {
    const rate = (this.config.honestGrowthPerYear * this.honestCount) / 365;
    const count = this.rng.poisson(rate);
    const honest = this.honestAgents;
    if (honest.length === 0) return;
    for (let i = 0; i < count; i++) {
      const key = this.newKey();
      const acquaintances: Agent[] = [];
      for (let j = 0; j < this.config.acquaintances * 3 && acquaintances.length < this.config.acquaintances; j++) {
        const pick = this.rng.pick(honest);
        if (pick.active && !acquaintances.includes(pick)) acquaintances.push(pick);
      }
      const candidate: Candidate = {
        key,
        genuine: true,
        group: undefined,
        arrivedAt: now,
        acquaintances,
        admittedAt: undefined,
        busy: false,
      };
      this.candidates.set(key.id, candidate);
      this.waiting.push(candidate);
      this.genuineLog.push(candidate);
      this.arrived++;
    }
  }

  /** A partner the proposer would stake with: acquaintances first, then random members it can see. */
  private choosePartner(
    proposer: Agent,
    now: number,
    accept: (agent: Agent) => boolean,
    preferred: Iterable<Agent> = [],
  ): Agent | undefined {
    const ok = (agent: Agent) =>
      agent !== proposer && accept(agent) && this.mayStake(agent, now) && this.mayPair(proposer, agent, now);
    for (const agent of preferred) if (ok(agent)) return agent;
    for (let tries = 0; tries < 24; tries++) {
      const agent = this.everyone[this.rng.int(this.everyone.length)]!;
      if (ok(agent)) return agent;
    }
    return undefined;
  }

  /** The candidate's other acquaintances, then the members the proposer cooperated with before (its trust edges). */
  private *acquaintancesThenFriends(candidate: Candidate, proposer: Agent): Generator<Agent> {
    yield* candidate.acquaintances;
    for (const id of this.board.friends(proposer.key.id)) {
      const friend = this.agents.get(id);
      if (friend) yield friend;
    }
  }

  private fakeCandidate(group: Group, now: number): Candidate {
    const key = this.newKey();
    const candidate: Candidate = {
      key,
      genuine: false,
      group,
      arrivedAt: now,
      acquaintances: [],
      admittedAt: undefined,
      busy: true,
    };
    this.candidates.set(key.id, candidate);
    return candidate;
  }

  private propose(proposer: Agent, partner: Agent, candidate: Candidate, now: number): ProposalRecord | undefined {
    const id = this.nextId();
    const refusal = this.world.propose(proposer.key, partner.key.id, id, candidate.key, now);
    this.reserved.add(proposer);
    if (refusal) {
      this.refusedActs.set(proposer.strategy, (this.refusedActs.get(proposer.strategy) ?? 0) + 1);
      // A permission refusal never lifts (a controlled identity may not stake): whoever it names stops.
      if (refusal.code === "permission") {
        if (refusal.message.includes(`member ${partner.key.id} `)) partner.retired = true;
        else proposer.retired = true;
      } else proposer.idleUntil = now + DAY;
      if (!candidate.genuine) this.candidates.delete(candidate.key.id);
      candidate.busy = false;
      return undefined;
    }
    this.reserved.add(partner);
    candidate.busy = true;
    const record: ProposalRecord = {
      id,
      proposer,
      partner,
      candidate,
      moves: [undefined, undefined],
      nonces: [undefined, undefined],
    };
    this.proposals.set(id, record);
    return record;
  }

  private proposeAll(now: number): ProposalRecord[] {
    const tasks: (() => ProposalRecord | undefined | ProposalRecord[])[] = [];
    this.waiting = this.waiting.filter((c) => c.admittedAt === undefined);
    for (const candidate of this.waiting) {
      tasks.push(() => {
        if (candidate.busy || candidate.admittedAt !== undefined) return undefined;
        // Any acquaintance the rules let propose now does; its partner is one the public trust state
        // vouches for: another acquaintance, else a member it cooperated with before, else anyone clean.
        for (const proposer of candidate.acquaintances) {
          if (!this.mayPropose(proposer, now)) continue;
          const partner = this.choosePartner(
            proposer,
            now,
            (agent) =>
              this.board.trusts(proposer.key.id, agent.key.id) && this.board.trusts(agent.key.id, proposer.key.id),
            this.acquaintancesThenFriends(candidate, proposer),
          );
          if (partner) return this.propose(proposer, partner, candidate, now);
        }
        return undefined;
      });
    }
    for (const group of this.groups) {
      if (halted(group)) continue;
      switch (group.strategy) {
        case "always-defect":
        case "tit-for-tat":
        case "invite-seller":
          for (const agent of group.members) {
            if (agent.retired || agent.shunned) continue;
            tasks.push(() => {
              // Nobody's public trust rule takes a proposer that is not clean itself: it does not try.
              if (halted(group) || agent.retired || !this.clean(agent) || !this.mayPropose(agent, now))
                return undefined;
              const partner = this.choosePartner(
                agent,
                now,
                // A clean-looking member whose public trust rule would take this proposer (attackers can
                // read the trust state as well as anyone; they do not know who belongs to other groups).
                (other) =>
                  this.board.trusts(other.key.id, agent.key.id) &&
                  (group.strategy === "tit-for-tat" || other.group !== group),
              );
              if (!partner) return undefined;
              return this.propose(agent, partner, this.fakeCandidate(group, now), now);
            });
          }
          break;
        case "self-play-farm":
        case "cooperating-ring":
          tasks.push(() => {
            const made: ProposalRecord[] = [];
            const stakers = this.pairable(group).filter((agent) => this.mayStake(agent, now));
            const paired = new Set<Agent>();
            for (const proposer of stakers) {
              if (halted(group) || paired.has(proposer) || !this.mayPropose(proposer, now)) continue;
              const partner = stakers.find(
                (other) =>
                  other !== proposer &&
                  !paired.has(other) &&
                  this.free(other, now) &&
                  this.mayPair(proposer, other, now),
              );
              if (!partner) continue;
              paired.add(proposer);
              paired.add(partner);
              const record = this.propose(proposer, partner, this.fakeCandidate(group, now), now);
              if (record) made.push(record);
            }
            return made;
          });
          break;
        case "griefer":
          break;
        default: {
          const unreachable: never = group.strategy;
          throw new Error(`unknown strategy ${String(unreachable)}`);
        }
      }
    }
    // A fixed shuffle of who acts first today.
    for (let i = tasks.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [tasks[i], tasks[j]] = [tasks[j]!, tasks[i]!];
    }
    const made: ProposalRecord[] = [];
    for (const task of tasks) {
      const out = task();
      if (Array.isArray(out)) made.push(...out);
      else if (out) made.push(out);
    }
    return made;
  }

  private accepts(record: ProposalRecord): boolean {
    const { partner, proposer } = record;
    switch (partner.strategy) {
      case "honest":
      case "denier":
        return this.board.trusts(partner.key.id, proposer.key.id);
      case "always-defect":
      case "tit-for-tat":
      case "invite-seller":
      case "griefer":
        return true;
      case "self-play-farm":
      case "cooperating-ring":
        return proposer.group === partner.group;
      default: {
        const unreachable: never = partner.strategy;
        throw new Error(`unknown strategy ${String(unreachable)}`);
      }
    }
  }

  private answerAll(today: readonly ProposalRecord[], now: number): ProposalRecord[] {
    const games: ProposalRecord[] = [];
    for (const record of today) {
      if (this.accepts(record)) {
        const refusal = this.world.answer("accept", record.partner.key, record.id, now);
        if (!refusal) {
          this.gamesOpened++;
          games.push(record);
          continue;
        }
        const strategy = record.partner.strategy;
        this.refusedActs.set(strategy, (this.refusedActs.get(strategy) ?? 0) + 1);
      }
      this.world.answer("decline", record.partner.key, record.id, now);
      this.proposals.delete(record.id);
      record.candidate.busy = false;
      if (!record.candidate.genuine) this.candidates.delete(record.candidate.key.id);
    }
    return games;
  }

  /** The move a sponsor plays; undefined: it never commits. */
  private move(record: ProposalRecord, side: 0 | 1): MoveName | undefined {
    const self = side === 0 ? record.proposer : record.partner;
    const other = side === 0 ? record.partner : record.proposer;
    switch (self.strategy) {
      case "honest":
        if (side === 0 || record.candidate.genuine) return "cooperate";
        return this.rng.chance(this.config.detection) ? "defect" : "cooperate";
      case "denier":
        return side === 0 ? "cooperate" : "defect";
      case "always-defect":
        return "defect";
      case "tit-for-tat":
        return this.board.lastMove(other.key.id) ?? "cooperate";
      case "self-play-farm":
        return side === 0 ? "defect" : "cooperate";
      case "cooperating-ring":
      case "invite-seller":
        return "cooperate";
      case "griefer":
        return undefined;
      default: {
        const unreachable: never = self.strategy;
        throw new Error(`unknown strategy ${String(unreachable)}`);
      }
    }
  }

  private commitAll(games: readonly ProposalRecord[], now: number): void {
    for (const record of games) {
      for (const side of [0, 1] as const) {
        const move = this.move(record, side);
        if (!move) continue;
        const nonce = this.rng.bytes(32);
        const sponsor = side === 0 ? record.proposer : record.partner;
        if (this.world.commit(sponsor.key, record.id, move, nonce, now)) continue;
        record.moves[side] = move;
        record.nonces[side] = nonce;
      }
    }
  }

  private revealAll(games: readonly ProposalRecord[], now: number): void {
    for (const record of games) {
      if (!record.moves[0] || !record.moves[1]) continue; // a no-show: the deadline sweep resolves it
      for (const side of [0, 1] as const) {
        const sponsor = side === 0 ? record.proposer : record.partner;
        this.world.reveal(sponsor.key, record.id, record.moves[side]!, record.nonces[side]!, now);
      }
    }
  }

  // ---- results ---------------------------------------------------------------------------------------------

  attackerCounts(): Record<AttackerStrategy, number> {
    const counts = Object.fromEntries(ATTACKER_STRATEGIES.map((s) => [s, 0])) as Record<AttackerStrategy, number>;
    for (const group of this.groups) counts[group.strategy] += group.members.length;
    return counts;
  }

  private sample(): void {
    const days = this.day - this.lastSample.day;
    const admitted = this.admittedTotal - this.lastSample.admitted;
    const waitSum = this.waitSum - this.lastSample.waitSum;
    this.samples.push({
      day: this.day,
      members: this.world.members.size,
      ...this.kinds,
      honest: this.honestCount,
      attackers: this.attackerCounts(),
      candidatesArrived: this.arrived,
      candidatesAdmitted: this.admittedTotal,
      candidatesWaiting: this.arrived - this.admittedTotal,
      admissionsPerDay: days > 0 ? admitted / days : 0,
      meanWaitDays: admitted > 0 ? waitSum / admitted / DAY : 0,
      stakePeriodDays: this.world.policies.stakePeriodMs / DAY,
    });
    this.lastSample = { day: this.day, admitted: this.admittedTotal, waitSum: this.waitSum };
  }

  /** Excludes a member through identity's Exclude decider (an operator act); the refusal if any. */
  exclude(memberId: string, reason: string): Refusal | undefined {
    return this.world.exclude(memberId, reason, this.now);
  }

  result(): SimulationResult {
    const { config } = this;
    const stakePeriods = Math.floor((config.days * DAY) / this.policy.admission.stakePeriodMs);
    const bound = config.groupSize + 2 * stakePeriods;
    const strategies: StrategySummary[] = ATTACKER_STRATEGIES.filter((s) => (config.groups[s] ?? 0) > 0).map(
      (strategy) => {
        const groups = this.groups.filter((g) => g.strategy === strategy);
        const maxGroup = Math.max(...groups.map((g) => g.members.length));
        return {
          strategy,
          groups: groups.length,
          start: groups.length * config.groupSize,
          end: groups.reduce((sum, g) => sum + g.members.length, 0),
          maxGroup,
          bound,
          withinBound: maxGroup <= bound,
          capped: groups.some((g) => g.capped),
          stopped: groups.some((g) => g.stopped),
          byGames: groups.reduce((sum, g) => sum + g.byGames, 0),
          byCredits: groups.reduce((sum, g) => sum + g.byCredits, 0),
          suspendedDays: groups.reduce((sum, g) => sum + g.suspendedMs, 0) / DAY,
          trusted: groups.reduce(
            (sum, g) => sum + g.members.filter((a) => a.active && this.board.clean(a.key.id)).length,
            0,
          ),
        };
      },
    );
    const ttl2 = 2 * this.policy.proposalTtlMs;
    const end = this.now;
    let eligible = 0;
    let within = 0;
    for (const candidate of this.genuineLog) {
      if (candidate.arrivedAt + ttl2 > end) continue;
      eligible++;
      if (candidate.admittedAt !== undefined && candidate.admittedAt - candidate.arrivedAt <= ttl2) within++;
    }
    const waits = [...this.waits].sort((a, b) => a - b);
    const quantile = (q: number) =>
      waits.length ? waits[Math.min(waits.length - 1, Math.floor(q * waits.length))]! / DAY : 0;
    return {
      config,
      stakePeriods,
      samples: this.samples,
      strategies,
      honest: {
        membersStart: this.honestStart,
        membersEnd: this.honestCount,
        candidates: this.arrived,
        admitted: this.admittedTotal,
        eligible,
        admittedWithinTwoTtls: within,
        shareWithinTwoTtls: eligible > 0 ? within / eligible : 1,
        medianWaitDays: quantile(0.5),
        p90WaitDays: quantile(0.9),
        suspendedDays: this.honestSuspendedMs / DAY,
        trusted: this.everyone.filter((a) => a.strategy === "honest" && a.active && this.board.clean(a.key.id)).length,
      },
      deniers: { members: this.deniersList.length, suspendedDays: this.deniersSuspendedMs / DAY },
      gamesOpened: this.gamesOpened,
      retargets: this.world.retargets,
      outcomes: Object.fromEntries([...this.outcomes].sort()),
      refusals: Object.fromEntries([...this.refusals].sort()),
      refusedActs: Object.fromEntries([...this.refusedActs].sort()),
      events: [...this.world.eventCounts.values()].reduce((a, b) => a + b, 0),
      members: this.world.members.size,
    };
  }
}
