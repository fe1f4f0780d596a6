import {
  DEFAULT_POLICY,
  ForgedEventError,
  IllegalStateError,
  isPotError,
  NotFoundError,
  openingForgery,
  type OperatorSignature,
  type Policy,
} from "@pot/mechanism";
import { requestDigest, type AggregateRepository, type Logger, type StoredEvent } from "@pot/event-store";
import {
  actionFromWire,
  openingFromWire,
  operatorKeysSourceFromWire,
  policyDigest,
  policyFromWire,
  sponsorFromWire,
  toNumber,
} from "@pot/wire";
import {
  currentPolicy,
  decideGame,
  decidePolicy,
  dueInterval,
  intervalEnd,
  intervalStart,
  policyVersion,
  type GameCommand,
  type GameEvent,
  type GameState,
  type Move,
  type Outcome,
  type PolicyEvent,
  type PolicyState,
  type Retarget,
} from "../domain/index.js";

export const POLICY_ID = "network";

/**
 * The stake period a GameOpened locked: stake_locked_until_ms - opened_at_ms; undefined when the event
 * carries no lock time (none is written so, but a malformed one must not record a negative period).
 */
export function stakePeriodOf(opened: { stakeLockedUntilMs: bigint; openedAtMs: bigint }): number | undefined {
  const period = toNumber(opened.stakeLockedUntilMs) - toNumber(opened.openedAtMs);
  return opened.stakeLockedUntilMs > 0n && period >= 0 ? period : undefined;
}

export interface AdjudicatorDeps {
  /** This deployment's network id (POT_NETWORK_ID): every signature is checked against it. */
  readonly networkId: string;
  readonly games: AggregateRepository<GameState, GameEvent>;
  readonly policies: AggregateRepository<PolicyState, PolicyEvent>;
  readonly now: () => number;
  readonly logger: Logger;
}

export interface Traced {
  readonly headers?: Record<string, string>;
}

/** The adjudicator's use cases: load -> decide -> append, and its reactions to other services. */
export class Adjudicator {
  constructor(private readonly deps: AdjudicatorDeps) {}

  /** Publishes the built-in default policy as version 1 when no policy exists yet. */
  async ensureDefaultPolicy(): Promise<void> {
    const { version: _version, ...policy } = DEFAULT_POLICY;
    await this.deps.policies.execute(
      POLICY_ID,
      { causationId: "default-policy", now: new Date(this.deps.now()) },
      (state) => decidePolicy({ type: "PublishDefaultPolicy", policy, now: this.deps.now() }, state),
    );
  }

  /**
   * Idempotent per request id: a retry gets the version its first call published, another policy ALREADY_EXISTS.
   * Needs a quorum of the operator keys adopted from identity's stream (see onIdentityEvent).
   */
  async publishPolicy(
    requestId: string,
    policy: Omit<Policy, "version">,
    signatures: readonly OperatorSignature[],
    traced: Traced = {},
  ) {
    const digest = policyDigest(policy);
    const result = await this.deps.policies.execute(
      POLICY_ID,
      {
        causationId: `publish-policy:${requestId}`,
        now: new Date(this.deps.now()),
        request: { digest: requestDigest(policy), describe: `request_id ${requestId}` },
        ...traced,
      },
      (state) =>
        decidePolicy(
          {
            type: "PublishPolicy",
            policy,
            now: this.deps.now(),
            networkId: this.deps.networkId,
            requestId,
            digest,
            signatures,
          },
          state,
        ),
    );
    const published = result.caused?.events.find((event) => event.type === "PolicyPublished")?.policy;
    if (!published) throw new IllegalStateError("no policy was published");
    return { version: published.version, sequence: result.seq };
  }

  /**
   * A policy version and the admission stake period in force under it: for the current version, the
   * last retargeted one (when its rate target is on); for an older one, its own.
   */
  async policyInForce(version: number): Promise<{
    policy: Policy;
    admissionStakePeriodMs: number;
    lastRetarget: Retarget | undefined;
  }> {
    const { state } = await this.deps.policies.load(POLICY_ID);
    const current = currentPolicy(state);
    const policy = version === 0 ? current : policyVersion(state, version);
    if (!policy)
      throw new NotFoundError(
        version === 0 ? "no policy has been published" : `policy version ${version} does not exist`,
      );
    return policy === current
      ? { policy, admissionStakePeriodMs: state.stakePeriodMs, lastRetarget: state.lastRetarget }
      : { policy, admissionStakePeriodMs: policy.admission.stakePeriodMs, lastRetarget: undefined };
  }

  /**
   * Retargets the admission stake period for every interval that has ended (by `graceMs` at least, so
   * that every resolution inside it is on the stream) under the current policy's rate target, one
   * StakePeriodRetargeted each, oldest first. `countAdmissions` counts the sponsored admissions resolved
   * within [startMs, endMs) and says through which stream sequence it counted. Idempotent, and safe with
   * two replicas: the event id derives from the policy version and the interval, and the append is
   * conditional on the policy subject, so a second replica's retarget of the same interval is a no-op.
   */
  async retargetDue(
    countAdmissions: (startMs: number, endMs: number) => Promise<{ admissions: number; throughSeq: number }>,
    graceMs: number,
    maxIntervals = 100,
  ): Promise<number> {
    let retargeted = 0;
    while (retargeted < maxIntervals) {
      const { state } = await this.deps.policies.load(POLICY_ID);
      const due = dueInterval(state);
      if (!due) return retargeted;
      const target = due.policy.rateTarget;
      const now = this.deps.now();
      if (now < intervalEnd(target, due.interval) + graceMs) return retargeted;
      const { admissions, throughSeq } = await countAdmissions(
        intervalStart(target, due.interval),
        intervalEnd(target, due.interval),
      );
      const result = await this.deps.policies.execute(
        POLICY_ID,
        { causationId: `retarget:${due.policy.version}:${due.interval}`, now: new Date(now) },
        (current) =>
          decidePolicy(
            {
              type: "RetargetStakePeriod",
              policyVersion: due.policy.version,
              interval: due.interval,
              admissions,
              throughSeq,
              now,
            },
            current,
          ),
      );
      if (result.state.nextInterval <= due.interval) return retargeted;
      retargeted++;
    }
    return retargeted;
  }

  async getPolicy(version: number): Promise<Policy> {
    const { state } = await this.deps.policies.load(POLICY_ID);
    const policy = version === 0 ? currentPolicy(state) : policyVersion(state, version);
    if (!policy)
      throw new NotFoundError(
        version === 0 ? "no policy has been published" : `policy version ${version} does not exist`,
      );
    return policy;
  }

  async commitMove(
    input: { gameId: string; memberId: string; commitment: Uint8Array; signature: Uint8Array },
    traced: Traced = {},
  ): Promise<{ sequence: number }> {
    const now = this.deps.now();
    const request = {
      digest: requestDigest({ commitment: input.commitment, signature: input.signature }),
      describe: `the commitment of member ${input.memberId} in game ${input.gameId}`,
    };
    const result = await this.run(
      input.gameId,
      `commit:${input.gameId}:${input.memberId}`,
      now,
      traced,
      {
        type: "CommitMove",
        networkId: this.deps.networkId,
        memberId: input.memberId,
        commitment: input.commitment,
        signature: input.signature,
        now,
      },
      request,
    );
    return { sequence: result.seq };
  }

  async revealMove(
    input: { gameId: string; memberId: string; move: Move; nonce: Uint8Array; signature: Uint8Array },
    traced: Traced = {},
  ): Promise<{ sequence: number; outcome: Outcome | undefined }> {
    const now = this.deps.now();
    const request = {
      digest: requestDigest({ move: input.move, nonce: input.nonce, signature: input.signature }),
      describe: `the reveal of member ${input.memberId} in game ${input.gameId}`,
    };
    const result = await this.run(
      input.gameId,
      `reveal:${input.gameId}:${input.memberId}`,
      now,
      traced,
      {
        type: "RevealMove",
        networkId: this.deps.networkId,
        memberId: input.memberId,
        move: input.move,
        nonce: input.nonce,
        signature: input.signature,
        now,
      },
      request,
    );
    // The answer is what this reveal caused, as the log has it: a retry gets the first answer.
    const caused = result.caused;
    const resolution = caused?.events.find((event) => event.type === "GameResolved");
    if (resolution?.type === "GameResolved") {
      return { sequence: caused!.seqs[caused!.events.indexOf(resolution)] ?? result.seq, outcome: resolution.outcome };
    }
    // The last reveal whose resolution was not stored with it (the append failed part-way, and the
    // deadline sweep or a retry finished it): the game's outcome is what this reveal settled.
    const last = caused !== undefined && caused.expected > 1;
    if (last && result.state.phase === "resolved") {
      const game = await this.deps.games.load(input.gameId);
      return { sequence: game.seq, outcome: result.state.resolution?.outcome };
    }
    return { sequence: result.seq, outcome: undefined };
  }

  /** Resolves a game whose deadline has passed (or whose resolution an earlier crash interrupted). */
  async tick(gameId: string): Promise<GameState> {
    const now = this.deps.now();
    const result = await this.run(gameId, `tick:${gameId}:${now}`, now, {}, { type: "Tick", now });
    return result.state;
  }

  /**
   * Reaction to identity's network subject: adopts the operator keys of the genesis and of every
   * rotation, after checking their signatures as identity did. An event that does not check out (a
   * forgery appended with identity's credentials) is refused with a ForgedEventError: never adopted,
   * and reported (logged, counted, dead-lettered as forged).
   */
  async onIdentityEvent(stored: StoredEvent): Promise<void> {
    const source = operatorKeysSourceFromWire(stored.envelope.event);
    if (!source) return;
    try {
      await this.deps.policies.execute(
        POLICY_ID,
        { causationId: stored.envelope.eventId, now: new Date(this.deps.now()) },
        (state) =>
          decidePolicy(
            {
              type: "AdoptOperatorKeys",
              networkId: this.deps.networkId,
              source,
              sourceEventId: stored.envelope.eventId,
            },
            state,
          ),
      );
    } catch (error) {
      // Reported (logged, counted, dead-lettered as forged) by refusingForgedEvents and the reactor.
      if (!isPotError(error) || error.code !== "permission") throw error;
      throw new ForgedEventError(stored.envelope.type.replace("pot.v1.", ""), error.message);
    }
  }

  /**
   * Reaction to the matchmaker's stream. Idempotent: a redelivered opening starts nothing new. A game
   * starts only from an opening both sponsors signed (openingForgery); an exclusion cancels only games
   * the excluded member plays. Anything else is refused with a ForgedEventError before it acts.
   */
  async onMatchmakerEvent(stored: StoredEvent): Promise<void> {
    const event = stored.envelope.event;
    if (event?.$case === "sponsorExcluded") {
      const excluded = event.value.memberId;
      const games = [];
      for (const gameId of event.value.cancelledProposalIds) {
        const { state } = await this.deps.games.load(gameId);
        if (state.phase === "none" || state.phase === "resolved") continue;
        if (state.sponsorA.memberId !== excluded && state.sponsorB.memberId !== excluded) {
          throw new ForgedEventError(
            "SponsorExcluded",
            `SponsorExcluded of member ${excluded} cancels game ${gameId}, which that member does not play`,
          );
        }
        games.push(gameId);
      }
      // The excluded sponsor's open games are cancelled; that releases the other sponsor's stake.
      for (const gameId of games) {
        await this.deps.games.execute(
          gameId,
          {
            causationId: stored.envelope.eventId,
            correlationId: gameId,
            now: new Date(this.deps.now()),
          },
          (current) =>
            decideGame(
              { type: "CancelGame", now: this.deps.now(), reason: `sponsor ${event.value.memberId} was excluded` },
              current,
            ),
        );
      }
      return;
    }
    if (event?.$case !== "gameOpened") return;
    const opened = event.value;
    const claim = {
      gameId: opened.gameId,
      sponsorA: sponsorFromWire(opened.sponsorA),
      sponsorB: sponsorFromWire(opened.sponsorB),
      action: actionFromWire(opened.action),
    };
    const opening = openingFromWire(opened.opening);
    const forgery = openingForgery(this.deps.networkId, claim, opening);
    if (forgery) throw new ForgedEventError("GameOpened", `GameOpened of game ${opened.gameId}: ${forgery}`);
    // A published policy version never changes: the one this process knows serves until a game names a newer one.
    const known = this.deps.policies.known(POLICY_ID);
    const policy =
      (known && policyVersion(known, opened.policyVersion)) ??
      policyVersion((await this.deps.policies.load(POLICY_ID)).state, opened.policyVersion);
    if (!policy)
      throw new IllegalStateError(`game ${opened.gameId} opened under unknown policy v${opened.policyVersion}`);
    await this.deps.games.execute(
      opened.gameId,
      {
        causationId: stored.envelope.eventId,
        correlationId: stored.envelope.correlationId,
        now: new Date(this.deps.now()),
      },
      (state) =>
        decideGame(
          {
            type: "StartGame",
            ...claim,
            policy,
            openedAt: toNumber(opened.openedAtMs),
            // What the matchmaker locked: the retargeted stake period in force when it opened the game.
            stakePeriodMs: stakePeriodOf(opened),
            opening,
          },
          state,
        ),
    );
  }

  private run(
    gameId: string,
    causationId: string,
    now: number,
    traced: Traced,
    command: GameCommand,
    request?: { digest: string; describe: string },
  ) {
    return this.deps.games.execute(
      gameId,
      {
        causationId,
        correlationId: gameId,
        now: new Date(now),
        ...(traced.headers ? { headers: traced.headers } : {}),
        ...(request ? { request } : {}),
      },
      (state) => decideGame(command, state),
    );
  }
}

export { policyFromWire };
