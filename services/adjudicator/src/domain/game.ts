import {
  commitPayload,
  commitmentOf,
  IllegalStateError,
  NotFoundError,
  outcomeOfMoves,
  PermissionError,
  resolutionAmounts,
  revealPayload,
  rulesFor,
  ValidationError,
  verify,
  type GameRules,
  type OpeningSignatures,
  type Policy,
  type SignedMove,
  sameBytes,
} from "@pot/mechanism";
import { actionKindOf, type ActionSpec, type Move, type Outcome, type Side, type Sponsor } from "./types.js";

export interface Commitment {
  readonly commitment: Uint8Array;
  readonly signature: Uint8Array;
  readonly at: number;
}

export interface Reveal {
  readonly move: Move;
  readonly nonce: Uint8Array;
  readonly signature: Uint8Array;
  readonly at: number;
}

export interface Suspension {
  readonly memberId: string;
  readonly untilMs: number;
}

export interface CreditAward {
  readonly memberId: string;
  readonly count: number;
  readonly expiresAtMs: number;
  /**
   * The credit cap of the game's policy (growth.credit_cap over credit_cap_window_ms), which identity
   * applies to the member's grants; absent when the policy has none.
   */
  readonly cap?: { readonly count: number; readonly windowMs: number };
}

export interface Resolution {
  readonly outcome: Outcome;
  readonly moveA: Move | undefined;
  readonly moveB: Move | undefined;
  readonly resolvedAt: number;
  readonly admitted: boolean;
  readonly granted: boolean;
  readonly credits: readonly CreditAward[];
  readonly suspensions: readonly Suspension[];
  readonly noShowIds: readonly string[];
}

export type GameState =
  | { readonly phase: "none"; readonly gameId: string }
  | {
      readonly phase: "commit" | "reveal" | "resolved";
      readonly gameId: string;
      readonly sponsorA: Sponsor;
      readonly sponsorB: Sponsor;
      readonly action: ActionSpec;
      readonly policy: Policy;
      readonly openedAt: number;
      readonly commitDeadline: number;
      /** The sponsors' signatures that opened the game, carried on to its resolution. */
      readonly opening: OpeningSignatures;
      /** Set when both commitments are in. */
      readonly revealDeadline: number | undefined;
      readonly commitments: Readonly<Partial<Record<Side, Commitment>>>;
      readonly reveals: Readonly<Partial<Record<Side, Reveal>>>;
      readonly resolution: Resolution | undefined;
    };

export type StartedGame = Exclude<GameState, { phase: "none" }>;

export type GameEvent =
  | {
      readonly type: "GameStarted";
      readonly gameId: string;
      readonly sponsorA: Sponsor;
      readonly sponsorB: Sponsor;
      readonly action: ActionSpec;
      readonly policy: Policy;
      readonly openedAt: number;
      readonly commitDeadline: number;
      /**
       * The stake period the matchmaker locked the stakes for (the retargeted one in force, for an
       * admission under a rate target); absent from events written before it was recorded.
       */
      readonly stakePeriodMs?: number;
      readonly opening: OpeningSignatures;
    }
  | {
      readonly type: "MoveCommitted";
      readonly gameId: string;
      readonly memberId: string;
      readonly commitment: Uint8Array;
      readonly signature: Uint8Array;
      readonly at: number;
    }
  | {
      readonly type: "MoveRevealed";
      readonly gameId: string;
      readonly memberId: string;
      readonly move: Move;
      readonly nonce: Uint8Array;
      readonly signature: Uint8Array;
      readonly at: number;
    }
  | ({
      readonly type: "GameResolved";
      readonly gameId: string;
      /** Copied from the opening so that the event alone tells downstream systems what to enforce. */
      readonly sponsorA: Sponsor;
      readonly sponsorB: Sponsor;
      readonly action: ActionSpec;
      readonly policyVersion: number;
      /**
       * What justifies the resolution, for the services that act on it: the sponsors' signatures
       * that opened the game and their signed moves (docs/events.md, "Signatures carried by events").
       */
      readonly opening?: OpeningSignatures;
      readonly signedMoveA?: SignedMove;
      readonly signedMoveB?: SignedMove;
    } & Resolution);

export type GameCommand =
  | {
      readonly type: "StartGame";
      readonly gameId: string;
      readonly sponsorA: Sponsor;
      readonly sponsorB: Sponsor;
      readonly action: ActionSpec;
      /** The policy version the game opened with, looked up by the caller. */
      readonly policy: Policy;
      readonly openedAt: number;
      /**
       * The stake period the opening locked (GameOpened's stake_locked_until_ms - opened_at_ms), recorded
       * in GameStarted; undefined when the opening does not say (an event from before it did).
       */
      readonly stakePeriodMs: number | undefined;
      /** The signatures that opened it, re-checked by the caller (openingForgery). */
      readonly opening: OpeningSignatures;
    }
  | {
      readonly type: "CommitMove";
      /** The network id the signature is checked against (this deployment's). */
      readonly networkId: string;
      readonly memberId: string;
      readonly commitment: Uint8Array;
      readonly signature: Uint8Array;
      readonly now: number;
    }
  | {
      readonly type: "RevealMove";
      /** The network id the signature is checked against (this deployment's). */
      readonly networkId: string;
      readonly memberId: string;
      readonly move: Move;
      readonly nonce: Uint8Array;
      readonly signature: Uint8Array;
      readonly now: number;
    }
  /** Resolves whatever the clock or the recorded moves have settled: deadlines, a finished reveal. */
  | { readonly type: "Tick"; readonly now: number }
  | { readonly type: "CancelGame"; readonly now: number; readonly reason: string };

export const initialGameState = (gameId: string): GameState => ({ phase: "none", gameId });

export function rulesOf(game: StartedGame): GameRules {
  const rules = rulesFor(game.policy, actionKindOf(game.action));
  if (!rules)
    throw new IllegalStateError(`policy v${game.policy.version} has no rules for ${actionKindOf(game.action)}`);
  return rules;
}

export function decideGame(command: GameCommand, state: GameState): GameEvent[] {
  if (command.type === "StartGame") {
    if (state.phase !== "none") return []; // a redelivered opening: already started
    const rules = rulesFor(command.policy, actionKindOf(command.action));
    if (!rules) {
      throw new IllegalStateError(
        `policy v${command.policy.version} has no rules for action kind '${actionKindOf(command.action)}'`,
      );
    }
    return [
      {
        type: "GameStarted",
        gameId: command.gameId,
        sponsorA: command.sponsorA,
        sponsorB: command.sponsorB,
        action: command.action,
        policy: command.policy,
        openedAt: command.openedAt,
        commitDeadline: command.openedAt + rules.commitWindowMs,
        ...(command.stakePeriodMs !== undefined ? { stakePeriodMs: command.stakePeriodMs } : {}),
        opening: command.opening,
      },
    ];
  }
  if (state.phase === "none") throw new NotFoundError(`game ${state.gameId} does not exist`);
  switch (command.type) {
    case "CommitMove":
      return decideCommit(command, state);
    case "RevealMove":
      return decideReveal(command, state);
    case "Tick":
      return settle(state, command.now);
    case "CancelGame":
      if (state.phase === "resolved") return [];
      return [resolved(state, cancelled(state, command.now))];
    default: {
      const unreachable: never = command;
      throw new IllegalStateError(`unknown command ${JSON.stringify(unreachable)}`);
    }
  }
}

function sideOf(game: StartedGame, memberId: string): Side {
  if (game.sponsorA.memberId === memberId) return "a";
  if (game.sponsorB.memberId === memberId) return "b";
  throw new PermissionError(`member ${memberId} is not a sponsor of game ${game.gameId}`);
}

function sponsorOf(game: StartedGame, side: Side): Sponsor {
  return side === "a" ? game.sponsorA : game.sponsorB;
}

function decideCommit(command: Extract<GameCommand, { type: "CommitMove" }>, game: StartedGame): GameEvent[] {
  const side = sideOf(game, command.memberId);
  const existing = game.commitments[side];
  if (existing) {
    if (sameBytes(existing.commitment, command.commitment) && sameBytes(existing.signature, command.signature))
      return [];
    throw new IllegalStateError(`member ${command.memberId} has already committed in game ${game.gameId}`);
  }
  if (game.phase === "resolved") throw new IllegalStateError(`game ${game.gameId} is already resolved`);
  if (command.now > game.commitDeadline) {
    throw new IllegalStateError(
      `the commit deadline of game ${game.gameId} passed at ${new Date(game.commitDeadline).toISOString()}`,
    );
  }
  const payload = commitPayload(command.networkId, game.gameId, command.memberId, command.commitment);
  if (!verify(command.signature, payload, sponsorOf(game, side).publicKey)) {
    throw new PermissionError(
      `signature does not verify against the key of member ${command.memberId} for network '${command.networkId}'`,
    );
  }
  return [
    {
      type: "MoveCommitted",
      gameId: game.gameId,
      memberId: command.memberId,
      commitment: command.commitment,
      signature: command.signature,
      at: command.now,
    },
  ];
}

function decideReveal(command: Extract<GameCommand, { type: "RevealMove" }>, game: StartedGame): GameEvent[] {
  const side = sideOf(game, command.memberId);
  const existing = game.reveals[side];
  if (existing) {
    if (existing.move !== command.move || !sameBytes(existing.nonce, command.nonce)) {
      throw new IllegalStateError(`member ${command.memberId} has already revealed in game ${game.gameId}`);
    }
    // A retried reveal: finish the resolution if an earlier attempt stopped between the two appends.
    return settle(game, command.now);
  }
  if (game.phase === "resolved") throw new IllegalStateError(`game ${game.gameId} is already resolved`);
  if (game.phase === "commit") {
    throw new IllegalStateError(`game ${game.gameId} is still waiting for both commitments; reveal after they are in`);
  }
  if (game.revealDeadline !== undefined && command.now > game.revealDeadline) {
    throw new IllegalStateError(
      `the reveal deadline of game ${game.gameId} passed at ${new Date(game.revealDeadline).toISOString()}`,
    );
  }
  const sponsor = sponsorOf(game, side);
  if (
    !verify(
      command.signature,
      revealPayload(command.networkId, game.gameId, command.memberId, command.move, command.nonce),
      sponsor.publicKey,
    )
  ) {
    throw new PermissionError(
      `signature does not verify against the key of member ${command.memberId} for network '${command.networkId}'`,
    );
  }
  const commitment = game.commitments[side]?.commitment;
  if (!commitment || !sameBytes(commitment, commitmentOf(game.gameId, command.memberId, command.move, command.nonce))) {
    throw new ValidationError("nonce", `move and nonce do not open the commitment of member ${command.memberId}`);
  }
  const revealed: GameEvent = {
    type: "MoveRevealed",
    gameId: game.gameId,
    memberId: command.memberId,
    move: command.move,
    nonce: command.nonce,
    signature: command.signature,
    at: command.now,
  };
  return [revealed, ...settle(evolveGame(game, revealed) as StartedGame, command.now)];
}

/** The resolution that the recorded moves and the clock already determine, if any. */
function settle(game: StartedGame, now: number): GameEvent[] {
  if (game.phase === "resolved") return [];
  const { a: revealA, b: revealB } = game.reveals;
  if (revealA && revealB) return [resolved(game, byMoves(game, revealA.move, revealB.move, now))];
  if (game.phase === "commit" && now > game.commitDeadline) {
    return [
      resolved(
        game,
        noShow(
          game,
          (["a", "b"] as const).filter((side) => !game.commitments[side]),
          now,
        ),
      ),
    ];
  }
  if (game.phase === "reveal" && game.revealDeadline !== undefined && now > game.revealDeadline) {
    return [
      resolved(
        game,
        noShow(
          game,
          (["a", "b"] as const).filter((side) => !game.reveals[side]),
          now,
        ),
      ),
    ];
  }
  return [];
}

/**
 * The payoff table, with every effect taken from the policy the game opened with: the amounts (credits,
 * suspensions) are resolutionAmounts' (@pot/mechanism), the one recomputation consumers re-check them with.
 */
export function byMoves(game: StartedGame, moveA: Move, moveB: Move, now: number): Resolution {
  rulesOf(game);
  const admission = game.action.type === "admission";
  const outcome: Outcome = outcomeOfMoves(moveA, moveB);
  const both = outcome === "both-cooperated";
  return {
    outcome,
    moveA,
    moveB,
    resolvedAt: now,
    noShowIds: [],
    admitted: both && admission,
    granted: both && !admission,
    ...amounts(game, outcome, now, []),
  };
}

function noShow(game: StartedGame, absent: readonly Side[], now: number): Resolution {
  rulesOf(game);
  const ids = absent.map((side) => sponsorOf(game, side).memberId);
  return {
    outcome: "no-show",
    moveA: game.reveals.a?.move,
    moveB: game.reveals.b?.move,
    resolvedAt: now,
    admitted: false,
    granted: false,
    ...amounts(game, "no-show", now, ids),
    noShowIds: ids,
  };
}

function amounts(
  game: StartedGame,
  outcome: Outcome,
  now: number,
  noShowIds: readonly string[],
): Pick<Resolution, "credits" | "suspensions"> {
  return resolutionAmounts(game.policy, {
    action: game.action,
    sponsorAId: game.sponsorA.memberId,
    sponsorBId: game.sponsorB.memberId,
    outcome,
    resolvedAt: now,
    noShowIds,
  });
}

function cancelled(game: StartedGame, now: number): Resolution {
  return {
    outcome: "cancelled",
    moveA: undefined,
    moveB: undefined,
    resolvedAt: now,
    admitted: false,
    granted: false,
    credits: [],
    suspensions: [],
    noShowIds: [],
  };
}

function resolved(game: StartedGame, resolution: Resolution): GameEvent {
  return {
    type: "GameResolved",
    gameId: game.gameId,
    sponsorA: game.sponsorA,
    sponsorB: game.sponsorB,
    action: game.action,
    policyVersion: game.policy.version,
    opening: game.opening,
    ...signedMoves(game),
    ...resolution,
  };
}

function signedMoves(game: StartedGame): { signedMoveA?: SignedMove; signedMoveB?: SignedMove } {
  const a = signedMove(game, "a");
  const b = signedMove(game, "b");
  return { ...(a ? { signedMoveA: a } : {}), ...(b ? { signedMoveB: b } : {}) };
}

/** A sponsor's commitment and reveal as recorded, with their signatures; undefined if it never committed. */
function signedMove(game: StartedGame, side: Side): SignedMove | undefined {
  const commitment = game.commitments[side];
  if (!commitment) return undefined;
  const reveal = game.reveals[side];
  return {
    commitment: commitment.commitment,
    commitSignature: commitment.signature,
    move: reveal?.move,
    nonce: reveal?.nonce ?? new Uint8Array(),
    revealSignature: reveal?.signature ?? new Uint8Array(),
  };
}

export function evolveGame(state: GameState, event: GameEvent): GameState {
  switch (event.type) {
    case "GameStarted":
      return {
        phase: "commit",
        gameId: event.gameId,
        sponsorA: event.sponsorA,
        sponsorB: event.sponsorB,
        action: event.action,
        policy: event.policy,
        openedAt: event.openedAt,
        commitDeadline: event.commitDeadline,
        opening: event.opening,
        revealDeadline: undefined,
        commitments: {},
        reveals: {},
        resolution: undefined,
      };
    case "MoveCommitted": {
      if (state.phase === "none") return state;
      const side = state.sponsorA.memberId === event.memberId ? "a" : "b";
      const commitments = {
        ...state.commitments,
        [side]: { commitment: event.commitment, signature: event.signature, at: event.at },
      };
      const both = commitments.a !== undefined && commitments.b !== undefined;
      return {
        ...state,
        commitments,
        phase: both && state.phase === "commit" ? "reveal" : state.phase,
        revealDeadline: both ? event.at + rulesOf(state).revealWindowMs : state.revealDeadline,
      };
    }
    case "MoveRevealed": {
      if (state.phase === "none") return state;
      const side = state.sponsorA.memberId === event.memberId ? "a" : "b";
      return {
        ...state,
        reveals: {
          ...state.reveals,
          [side]: { move: event.move, nonce: event.nonce, signature: event.signature, at: event.at },
        },
      };
    }
    case "GameResolved": {
      if (state.phase === "none") return state;
      const {
        type: _type,
        gameId: _gameId,
        sponsorA: _a,
        sponsorB: _b,
        action: _action,
        policyVersion: _v,
        opening: _opening,
        signedMoveA: _signedA,
        signedMoveB: _signedB,
        ...resolution
      } = event;
      return { ...state, phase: "resolved", resolution };
    }
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}

/** When the game next needs the clock to act on it, if ever. */
export function nextDeadline(state: GameState): number | undefined {
  if (state.phase === "commit") return state.commitDeadline;
  if (state.phase === "reveal") return state.revealDeadline;
  return undefined;
}
