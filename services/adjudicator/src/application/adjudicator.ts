import { DEFAULT_POLICY, IllegalStateError, NotFoundError, type Policy } from "@pot/mechanism";
import type { AggregateRepository, Logger, StoredEvent } from "@pot/event-store";
import { actionFromWire, policyFromWire, sponsorFromWire, toNumber } from "@pot/wire";
import {
  currentPolicy,
  decideGame,
  decidePolicy,
  policyVersion,
  type GameCommand,
  type GameEvent,
  type GameState,
  type Move,
  type Outcome,
  type PolicyEvent,
  type PolicyState,
} from "../domain/index.js";

export const POLICY_ID = "network";

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
      (state) => decidePolicy({ type: "PublishDefaultPolicy", policy }, state),
    );
  }

  async publishPolicy(requestId: string, policy: Omit<Policy, "version">, traced: Traced = {}) {
    const result = await this.deps.policies.execute(
      POLICY_ID,
      { causationId: `publish-policy:${requestId}`, now: new Date(this.deps.now()), ...traced },
      (state) => decidePolicy({ type: "PublishPolicy", policy }, state),
    );
    const published = currentPolicy(result.state);
    if (!published) throw new IllegalStateError("no policy was published");
    return { version: published.version, sequence: result.seq };
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
    const result = await this.run(input.gameId, `commit:${input.gameId}:${input.memberId}`, now, traced, {
      type: "CommitMove",
      networkId: this.deps.networkId,
      memberId: input.memberId,
      commitment: input.commitment,
      signature: input.signature,
      now,
    });
    return { sequence: result.seq };
  }

  async revealMove(
    input: { gameId: string; memberId: string; move: Move; nonce: Uint8Array; signature: Uint8Array },
    traced: Traced = {},
  ): Promise<{ sequence: number; outcome: Outcome | undefined }> {
    const now = this.deps.now();
    const result = await this.run(input.gameId, `reveal:${input.gameId}:${input.memberId}`, now, traced, {
      type: "RevealMove",
      networkId: this.deps.networkId,
      memberId: input.memberId,
      move: input.move,
      nonce: input.nonce,
      signature: input.signature,
      now,
    });
    const state = result.state;
    return { sequence: result.seq, outcome: state.phase === "resolved" ? state.resolution?.outcome : undefined };
  }

  /** Resolves a game whose deadline has passed (or whose resolution an earlier crash interrupted). */
  async tick(gameId: string): Promise<GameState> {
    const now = this.deps.now();
    const result = await this.run(gameId, `tick:${gameId}:${now}`, now, {}, { type: "Tick", now });
    return result.state;
  }

  /** Reaction to the matchmaker's stream. Idempotent: a redelivered opening starts nothing new. */
  async onMatchmakerEvent(stored: StoredEvent): Promise<void> {
    const event = stored.envelope.event;
    if (event?.$case === "sponsorExcluded") {
      // The excluded sponsor's open games are cancelled; that releases the other sponsor's stake.
      for (const gameId of event.value.cancelledProposalIds) {
        const { state } = await this.deps.games.load(gameId);
        if (state.phase === "none" || state.phase === "resolved") continue;
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
            gameId: opened.gameId,
            sponsorA: sponsorFromWire(opened.sponsorA),
            sponsorB: sponsorFromWire(opened.sponsorB),
            action: actionFromWire(opened.action),
            policy,
            openedAt: toNumber(opened.openedAtMs),
          },
          state,
        ),
    );
  }

  private run(gameId: string, causationId: string, now: number, traced: Traced, command: GameCommand) {
    return this.deps.games.execute(
      gameId,
      {
        causationId,
        correlationId: gameId,
        now: new Date(now),
        ...(traced.headers ? { headers: traced.headers } : {}),
      },
      (state) => decideGame(command, state),
    );
  }
}

export { policyFromWire };
