import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  admissionAction,
  consentOf,
  currentAgreement,
  isServiceError,
  isStatus,
  newMember,
  newProposalId,
  readEvents,
  sealMove,
  status,
  statusName,
  streamNames,
  type AgreementRef,
  type EventRecord,
  type Member,
  type PotClient,
  type ServiceName,
} from "@pot/client";
import { AdmissionKind, Move, Outcome, type Policy as WirePolicy } from "@pot/contracts";
import { DEFAULT_POLICY, type MoveName, type Policy } from "@pot/mechanism";
import { policyFromWire } from "@pot/wire";
import { retrying } from "../commands/shared.js";
import { formatDuration, outcomeLabel } from "../format.js";
import { chooseMove, pairUp, seededRandom, STRATEGIES, type StrategyName } from "./strategies.js";

/**
 * Short periods so a few dozen games fit in half a minute; the pair cool-down equals the stake period.
 * The growth rules are the default's, scaled to these periods: controlled identities never stake, a
 * newcomer waits two stake periods, a member sponsors one game per two stake periods, and so on.
 */
export const DEMO_POLICY: Policy = {
  ...DEFAULT_POLICY,
  admission: {
    stakePeriodMs: 2_000,
    penaltyPeriodMs: 4_000,
    commitWindowMs: 15_000,
    revealWindowMs: 15_000,
    defectorCredits: 2,
    suspendBetrayed: true,
    suspendBothDefectors: true,
    noShowPenaltyMs: 8_000,
  },
  actionKinds: [],
  pairCooldownMs: 2_000,
  proposalTtlMs: 60_000,
  creditTtlMs: 3_600_000,
  exclusionSponsorPenaltyMs: 4_000,
  growth: {
    controlledStaking: "forbidden",
    maturityPeriodMs: 4_000,
    sponsorQuota: 1,
    sponsorQuotaWindowMs: 4_000,
    lineageDistance: 2,
    creditCap: 2,
    creditCapWindowMs: 4_000,
    pendingProposalCap: 3,
  },
};

const GENESIS_NAMES = ["ada", "bo", "cy", "di", "ed", "flo", "gus", "hal", "ivy", "jo", "kit", "lu"];
const DEMO_AGREEMENT = {
  hash: createHash("sha256").update("Proof-of-Trust demo agreement v1").digest(),
  uri: "https://example.org/pot/demo-agreement-v1",
};

export interface Player {
  readonly member: Member;
  readonly name: string;
  readonly strategy: StrategyName;
  readonly how: "genesis" | "sponsored" | "controlled";
  /** Its sponsors, or its controller: the lineage the policy keeps co-sponsors out of. */
  readonly parents: readonly string[];
  /** When it was admitted (genesis: 0), and when it last opened a game as a sponsor (0: never). */
  readonly admittedAt: number;
  lastOpenedAt: number;
  lastOpponentMove?: MoveName;
  games: number;
  cooperations: number;
  creditsEarned: number;
  suspensions: number;
  sponsoredAdmissions: number;
}

export interface GameReport {
  readonly number: number;
  readonly gameId: string;
  readonly a: string;
  readonly b: string;
  readonly moves: [MoveName, MoveName];
  readonly outcome: string;
  readonly admitted?: string;
  readonly controlled?: string;
}

export interface DemoOptions {
  readonly client: PotClient;
  readonly nc: NatsConnection;
  readonly namespace: string;
  readonly games: number;
  readonly genesis: number;
  readonly seed: number;
  /** Publish the policy that was in force again at the end (when the network is not the demo's own). */
  readonly restorePolicy: boolean;
  readonly say: (line: string) => void;
  readonly signal: AbortSignal;
}

export interface DemoResult {
  readonly namespace: string;
  readonly seconds: number;
  readonly games: GameReport[];
  readonly summary: Summary;
  readonly players: {
    name: string;
    strategy: StrategyName;
    how: string;
    games: number;
    cooperations: number;
    creditsEarned: number;
    suspensions: number;
    sponsoredAdmissions: number;
  }[];
}

export interface Summary {
  readonly outcomes: Record<string, number>;
  readonly admittedSponsored: number;
  readonly admittedControlled: number;
  readonly creditsGranted: number;
  readonly creditsRedeemed: number;
  readonly suspensions: number;
  readonly cooperationRate: number;
  readonly events: Record<ServiceName, number>;
}

/** How long the demo's candidates' consents are valid. */
const CONSENT_TTL_MS = 3_600_000;

const pairKey = (a: string, b: string) => (a < b ? `${a}/${b}` : `${b}/${a}`);

/**
 * Bootstraps a small network, publishes a demo policy with short periods, and plays `games` games
 * between players with mixed strategies, printing each outcome and its consequences; the summary
 * is read back from the event streams, as a downstream system would.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { client, nc, namespace, say } = options;
  const started = Date.now();
  const random = seededRandom(options.seed);
  const startSeqs = await streamEnds(nc, namespace);

  // 1. Genesis.
  // A network that already has members is re-seeded (forced), keeping its agreement.
  const existing = await currentAgreement(nc, namespace);
  const agreementSource = existing ?? DEMO_AGREEMENT;
  const players = new Map<string, Player>();
  const genesis = Array.from({ length: options.genesis }, (_, index) => {
    const player = newPlayer(
      newMember(),
      GENESIS_NAMES[index] ?? `g${index}`,
      STRATEGIES[index % STRATEGIES.length]!,
      "genesis",
      [],
      0,
    );
    players.set(player.member.id, player);
    return player;
  });
  await client.bootstrap(
    genesis.map((p) => ({ publicKey: p.member.keys.publicKey, displayName: p.name })),
    { hash: agreementSource.hash, uri: agreementSource.uri },
    { force: existing !== undefined },
  );
  for (const player of genesis) {
    await retrying(
      () => client.getStake(player.member.id),
      (e) => isStatus(e, status.NOT_FOUND),
      15_000,
      options.signal,
    );
  }
  const agreement: AgreementRef = (await currentAgreement(nc, namespace))!;
  say(
    `${existing ? "re-seeded (forced: it already had members)" : "bootstrapped"} network '${namespace}' with ${genesis.length} genesis members: ${genesis
      .map((p) => `${p.name} (${p.strategy})`)
      .join(", ")}`,
  );

  // 2. A policy with short periods, adopted by the matchmaker before the first proposal.
  const previous = (await client.getPolicy()).policy;
  const matchmakerEnd = (await streamEnds(nc, namespace)).matchmaker;
  const published = await client.publishPolicy(DEMO_POLICY);
  await waitForAdoption(nc, namespace, matchmakerEnd, published.version, options.signal);
  const rules = DEMO_POLICY.admission;
  say(
    `published demo policy v${published.version}: stake ${formatDuration(rules.stakePeriodMs)}, pair cool-down ${formatDuration(DEMO_POLICY.pairCooldownMs)}, penalty ${formatDuration(rules.penaltyPeriodMs)}, defector credits ${rules.defectorCredits}; the matchmaker adopted it`,
  );
  say("");

  // 3. Rounds: every available player is paired (never twice within the pair cool-down) and plays.
  const reports: GameReport[] = [];
  const cooldowns = new Map<string, number>();
  let lastProgress = Date.now();
  // Stakes are read after the matchmaker has applied the last round's resolutions (suspensions).
  let consistencyToken = "";
  while (reports.length < options.games) {
    if (options.signal.aborted) throw new Error("interrupted");
    if (Date.now() - lastProgress > 60_000) throw new Error("no game could be played for a minute: giving up");
    const pool = [...players.values()];
    const stakes = await Promise.all(
      pool.map((p) =>
        client.getStake(p.member.id, { consistencyToken }).then(
          (r) => r.stake,
          () => undefined,
        ),
      ),
    );
    const now = Date.now();
    // Who may stake under the growth rules: never a controlled identity, a newcomer once mature, a
    // sponsor once its quota window has passed (a small margin for the services' own clocks).
    const growth = DEMO_POLICY.growth;
    const margin = 100;
    const ready = pool.filter(
      (p, index) =>
        stakes[index]?.available &&
        p.how !== "controlled" &&
        (p.how === "genesis" || p.admittedAt + growth.maturityPeriodMs + margin <= now) &&
        p.lastOpenedAt + growth.sponsorQuotaWindowMs + margin <= now,
    );
    const pairs = pairUp(
      ready,
      random,
      (x, y) =>
        (cooldowns.get(pairKey(x.member.id, y.member.id)) ?? 0) > now ||
        related(players, x.member.id, y.member.id, growth.lineageDistance),
      options.games - reports.length,
    );
    if (pairs.length === 0) {
      const waits = stakes
        .map((s) => Math.max(Number(s?.lockedUntilMs ?? 0), Number(s?.suspendedUntilMs ?? 0)) - now)
        .filter((ms) => ms > 0);
      await sleep(Math.min(1_000, Math.max(50, Math.min(...waits, 1_000))));
      continue;
    }
    const played = await Promise.all(
      pairs.map(async ([a, b]) => {
        try {
          return await playGame(client, agreement, a, b, random, options.signal);
        } catch (error) {
          const why = isServiceError(error) ? `${statusName(error.code)}: ${error.details}` : (error as Error).message;
          say(`  ${a.name} vs ${b.name}: not played (${why})`);
          return undefined;
        }
      }),
    );
    const tokens = played.flatMap((game) => (game?.consistencyToken ? [game.consistencyToken] : []));
    if (tokens.length > 0) consistencyToken = tokens.join(",");
    for (const game of played) {
      if (!game) continue;
      lastProgress = Date.now();
      cooldowns.set(pairKey(game.a.member.id, game.b.member.id), game.openedAt + DEMO_POLICY.pairCooldownMs);
      game.a.lastOpenedAt = game.b.lastOpenedAt = game.openedAt;
      const report = await settle(game, reports.length + 1);
      reports.push(report);
    }
  }

  async function settle(game: PlayedGame, number: number): Promise<GameReport> {
    const { a, b, moves, outcome } = game;
    a.games++;
    b.games++;
    a.lastOpponentMove = moves[1];
    b.lastOpponentMove = moves[0];
    if (moves[0] === "cooperate") a.cooperations++;
    if (moves[1] === "cooperate") b.cooperations++;
    const letters = moves.map((m) => (m === "cooperate" ? "C" : "D")).join("/");
    const head = `#${String(number).padStart(2, "0")}  ${a.name} (${a.strategy}) vs ${b.name} (${b.strategy}): ${letters}`;
    let effect: string;
    let admitted: string | undefined;
    let controlled: string | undefined;
    switch (outcome) {
      case Outcome.OUTCOME_BOTH_COOPERATED: {
        const name = `m${players.size + 1}`;
        const strategy = STRATEGIES[players.size % STRATEGIES.length]!;
        players.set(
          game.candidate.id,
          newPlayer(game.candidate, name, strategy, "sponsored", [a.member.id, b.member.id], Date.now()),
        );
        a.sponsoredAdmissions++;
        b.sponsoredAdmissions++;
        admitted = name;
        effect = `${name} admitted, sponsored by ${a.name} and ${b.name} (plays ${strategy})`;
        break;
      }
      case Outcome.OUTCOME_A_DEFECTED:
      case Outcome.OUTCOME_B_DEFECTED: {
        const [defector, betrayed] = outcome === Outcome.OUTCOME_A_DEFECTED ? [a, b] : [b, a];
        defector.creditsEarned += rules.defectorCredits;
        if (rules.suspendBetrayed) betrayed.suspensions++;
        controlled = await redeemOne(defector);
        effect =
          `${defector.name} +${rules.defectorCredits} credits, ${betrayed.name} suspended ${formatDuration(rules.penaltyPeriodMs)}` +
          (controlled ? `; ${defector.name} redeems one: ${controlled} admitted, controlled by ${defector.name}` : "");
        break;
      }
      case Outcome.OUTCOME_BOTH_DEFECTED:
        if (rules.suspendBothDefectors) {
          a.suspensions++;
          b.suspensions++;
        }
        effect = `both suspended ${formatDuration(rules.penaltyPeriodMs)}, nobody admitted`;
        break;
      default:
        effect = outcomeLabel(outcome);
    }
    say(`${head} -> ${outcomeLabel(outcome)}: ${effect}`);
    return {
      number,
      gameId: game.gameId,
      a: a.name,
      b: b.name,
      moves,
      outcome: outcomeLabel(outcome),
      ...(admitted ? { admitted } : {}),
      ...(controlled ? { controlled } : {}),
    };
  }

  /** The defector spends one credit at once on an identity it controls (credits arrive asynchronously). */
  async function redeemOne(defector: Player): Promise<string | undefined> {
    const identity = newMember();
    try {
      await retrying(
        async () =>
          client.redeemCredit(
            defector.member,
            consentOf(await client.networkId(), identity, agreement, {
              controllerId: defector.member.id,
              expiresAtMs: Date.now() + CONSENT_TTL_MS,
            }),
          ),
        (error) => isStatus(error, status.FAILED_PRECONDITION),
        5_000,
        options.signal,
      );
    } catch {
      return undefined;
    }
    const name = `c${players.size + 1}`;
    players.set(
      identity.id,
      newPlayer(identity, name, defector.strategy, "controlled", [defector.member.id], Date.now()),
    );
    return name;
  }

  // 4. The story as the streams tell it.
  const summary = await summarize(nc, namespace, startSeqs, reports);
  if (options.restorePolicy && previous) {
    try {
      const restored = await client.publishPolicy(withoutVersion(previous));
      say(`restored the policy that was in force before the demo (as v${restored.version})`);
    } catch (error) {
      // A policy published before growth rules existed is refused now: the demo policy stays.
      if (!isStatus(error, status.INVALID_ARGUMENT)) throw error;
      say(
        `could not restore the policy in force before the demo (v${previous.version}): ${isServiceError(error) ? error.details : String(error)}; the demo policy stays in force`,
      );
    }
  }
  const seconds = (Date.now() - started) / 1000;
  printSummary(say, summary, reports.length, seconds, [...players.values()], genesis.length);
  return {
    namespace,
    seconds,
    games: reports,
    summary,
    players: [...players.values()].map(
      ({
        member: _member,
        lastOpponentMove: _last,
        parents: _parents,
        admittedAt: _admittedAt,
        lastOpenedAt: _lastOpenedAt,
        ...rest
      }) => rest,
    ),
  };
}

function newPlayer(
  member: Member,
  name: string,
  strategy: StrategyName,
  how: Player["how"],
  parents: readonly string[],
  admittedAt: number,
): Player {
  return {
    member,
    name,
    strategy,
    how,
    parents,
    admittedAt,
    lastOpenedAt: 0,
    games: 0,
    cooperations: 0,
    creditsEarned: 0,
    suspensions: 0,
    sponsoredAdmissions: 0,
  };
}

/** Whether x and y are within `distance` lineage steps of a common ancestor (see docs/growth.md). */
function related(players: ReadonlyMap<string, Player>, x: string, y: string, distance: number): boolean {
  const up = (id: string) => {
    const found = new Map([[id, 0]]);
    let frontier = [id];
    for (let step = 1; step <= distance; step++) {
      frontier = frontier.flatMap((m) => players.get(m)?.parents ?? []).filter((p) => !found.has(p));
      for (const parent of frontier) found.set(parent, step);
    }
    return found;
  };
  const fromY = up(y);
  return [...up(x)].some(([id, dx]) => fromY.has(id) && dx + fromY.get(id)! <= distance);
}

function withoutVersion(policy: WirePolicy): Policy {
  return { ...policyFromWire(policy), version: 0 };
}

interface PlayedGame {
  readonly gameId: string;
  readonly a: Player;
  readonly b: Player;
  readonly candidate: Member;
  readonly moves: [MoveName, MoveName];
  readonly outcome: Outcome;
  readonly openedAt: number;
  /** From the last reveal: a query with it waits until the resolution's effects are applied. */
  readonly consistencyToken: string;
}

async function playGame(
  client: PotClient,
  agreement: AgreementRef,
  a: Player,
  b: Player,
  random: () => number,
  signal: AbortSignal,
): Promise<PlayedGame> {
  const candidate = newMember();
  const consent = consentOf(await client.networkId(), candidate, agreement, {
    proposalId: newProposalId(),
    expiresAtMs: Date.now() + CONSENT_TTL_MS,
  });
  const proposal = await client.propose(a.member, b.member.id, admissionAction(consent));
  const openedAt = Date.now();
  const { gameId } = await client.accept(b.member, proposal.proposalId);
  const moves: [MoveName, MoveName] = [chooseMove(a.strategy, a, random), chooseMove(b.strategy, b, random)];
  const sealed = moves.map((move) => sealMove(move));
  await retrying(
    () => client.commit(a.member, gameId, sealed[0]!),
    (e) => isStatus(e, status.NOT_FOUND),
    10_000,
    signal,
  );
  await client.commit(b.member, gameId, sealed[1]!);
  await client.reveal(a.member, gameId, sealed[0]!);
  const last = await client.reveal(b.member, gameId, sealed[1]!);
  return { gameId, a, b, candidate, moves, outcome: last.outcome, openedAt, consistencyToken: last.consistencyToken };
}

async function streamEnds(nc: NatsConnection, namespace: string): Promise<Record<ServiceName, number>> {
  const { jetstreamManager } = await import("@nats-io/jetstream");
  const jsm = await jetstreamManager(nc);
  const end = async (service: ServiceName) => {
    try {
      return (await jsm.streams.info(streamNames(namespace, service).stream)).state.last_seq;
    } catch {
      return 0;
    }
  };
  return {
    identity: await end("identity"),
    matchmaker: await end("matchmaker"),
    adjudicator: await end("adjudicator"),
  };
}

async function waitForAdoption(
  nc: NatsConnection,
  namespace: string,
  afterSeq: number,
  version: number,
  signal: AbortSignal,
): Promise<void> {
  const timeout = AbortSignal.any([signal, AbortSignal.timeout(30_000)]);
  for await (const record of readEvents(nc, {
    namespace,
    service: "matchmaker",
    fromSeq: afterSeq + 1,
    follow: true,
    signal: timeout,
  })) {
    const event = record.envelope.event;
    if (event?.$case === "policyAdopted" && (event.value.policy?.version ?? 0) >= version) return;
  }
  throw new Error(`the matchmaker did not adopt policy v${version} within 30 s`);
}

async function readSince(
  nc: NatsConnection,
  namespace: string,
  service: ServiceName,
  afterSeq: number,
): Promise<EventRecord[]> {
  const out: EventRecord[] = [];
  for await (const record of readEvents(nc, { namespace, service, fromSeq: afterSeq + 1 })) out.push(record);
  return out;
}

async function summarize(
  nc: NatsConnection,
  namespace: string,
  start: Record<ServiceName, number>,
  reports: readonly GameReport[],
): Promise<Summary> {
  const ours = new Set(reports.map((r) => r.gameId));
  const expectedAdmissions = reports.filter((r) => r.admitted).length + reports.filter((r) => r.controlled).length;
  // Identity admits members as it reacts to resolutions: give the last ones a moment to land.
  let identity: EventRecord[] = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    identity = await readSince(nc, namespace, "identity", start.identity);
    const admitted = identity.filter(
      (e) =>
        e.envelope.event?.$case === "memberAdmitted" &&
        e.envelope.event.value.kind !== AdmissionKind.ADMISSION_KIND_GENESIS,
    ).length;
    if (admitted >= expectedAdmissions) break;
    await sleep(100);
  }
  const adjudicator = await readSince(nc, namespace, "adjudicator", start.adjudicator);
  const matchmaker = await readSince(nc, namespace, "matchmaker", start.matchmaker);
  const outcomes: Record<string, number> = {};
  let suspensions = 0;
  let moves = 0;
  let cooperations = 0;
  for (const record of adjudicator) {
    const event = record.envelope.event;
    if (event?.$case !== "gameResolved" || !ours.has(event.value.gameId)) continue;
    const label = outcomeLabel(event.value.outcome);
    outcomes[label] = (outcomes[label] ?? 0) + 1;
    suspensions += event.value.suspensions.length;
    for (const move of [event.value.moveA, event.value.moveB]) {
      moves++;
      if (move === Move.MOVE_COOPERATE) cooperations++;
    }
  }
  let admittedSponsored = 0;
  let admittedControlled = 0;
  let creditsGranted = 0;
  let creditsRedeemed = 0;
  for (const record of identity) {
    const event = record.envelope.event;
    if (event?.$case === "memberAdmitted" && event.value.kind === AdmissionKind.ADMISSION_KIND_SPONSORED)
      admittedSponsored++;
    if (event?.$case === "memberAdmitted" && event.value.kind === AdmissionKind.ADMISSION_KIND_CONTROLLED)
      admittedControlled++;
    if (event?.$case === "creditsGranted") creditsGranted += event.value.count;
    if (event?.$case === "creditRedeemed") creditsRedeemed++;
  }
  return {
    outcomes,
    admittedSponsored,
    admittedControlled,
    creditsGranted,
    creditsRedeemed,
    suspensions,
    cooperationRate: moves === 0 ? 0 : cooperations / moves,
    events: { identity: identity.length, matchmaker: matchmaker.length, adjudicator: adjudicator.length },
  };
}

function printSummary(
  say: (line: string) => void,
  summary: Summary,
  games: number,
  seconds: number,
  players: readonly Player[],
  genesis: number,
): void {
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  say("");
  say(`${games} games in ${seconds.toFixed(1)} s, as the event streams record them:`);
  say(
    `  outcomes      ${Object.entries(summary.outcomes)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
  );
  say(
    `  admissions    ${summary.admittedSponsored} sponsored, ${summary.admittedControlled} controlled (the network grew from ${genesis} to ${genesis + summary.admittedSponsored + summary.admittedControlled} demo members)`,
  );
  say(`  credits       ${summary.creditsGranted} granted, ${summary.creditsRedeemed} redeemed`);
  say(`  suspensions   ${summary.suspensions}`);
  say(`  cooperation   ${pct(summary.cooperationRate)} of moves`);
  say(
    `  events        identity ${summary.events.identity}, matchmaker ${summary.events.matchmaker}, adjudicator ${summary.events.adjudicator} (see them: pot events tail)`,
  );
  say("");
  // Controlled identities never stake (the policy's growth rules): they are counted apart, since
  // they add no player, however many credits a strategy earns.
  say("by strategy      players  controlled  games  cooperated  credits earned  suspended  sponsored admissions");
  for (const strategy of STRATEGIES) {
    const group = players.filter((p) => p.strategy === strategy);
    const staking = group.filter((p) => p.how !== "controlled");
    const sum = (f: (p: Player) => number) => group.reduce((total, p) => total + f(p), 0);
    const gamesPlayed = sum((p) => p.games);
    say(
      `${strategy.padEnd(17)}${String(staking.length).padStart(7)}${String(group.length - staking.length).padStart(12)}${String(gamesPlayed).padStart(7)}${(gamesPlayed ? pct(sum((p) => p.cooperations) / gamesPlayed) : "-").padStart(12)}${String(sum((p) => p.creditsEarned)).padStart(16)}${String(sum((p) => p.suspensions)).padStart(11)}${String(sum((p) => p.sponsoredAdmissions)).padStart(22)}`,
    );
  }
}
