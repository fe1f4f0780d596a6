import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import {
  decideGame,
  evolveGame,
  gameEventFromWire,
  initialGameState,
  decidePolicy,
  evolvePolicy,
  initialPolicyState,
  policyAggregate,
  type PolicyEvent,
  type PolicyState,
  type GameEvent,
  type GameState,
} from "@pot/adjudicator";
import type { Envelope } from "@pot/contracts";
import {
  aggregateIdOf,
  decodeEnvelope,
  eventTypeName,
  natsConnectOptions,
  natsInboxPrefix,
  streamNames,
  type NatsCredentials,
} from "@pot/event-store";
import { memberIdOf, validatePolicy, type Policy } from "@pot/mechanism";
import { CrossCheck } from "./cross-check.js";
import { OperatorAudit } from "./operator-audit.js";
import { StreamReader } from "./stream-reader.js";
import type { VerifyMismatch, VerifyResult } from "./types.js";

const BATCH = 2_000;
const PROGRESS_EVERY = 1_000;

/**
 * Reads the adjudicator's stream from its start to its end (as of the call) and re-checks every
 * game event by deciding it again with the pure decider, from the game's history and the policy
 * version the game opened under: the opening against the published policy, every commitment's
 * signature, every reveal's signature and opening of its commitment, and every resolution's
 * outcome and effects (credits, suspensions, admission, grant). Whatever the decider would not
 * have produced exactly is reported, as is any policy version published out of order or invalid.
 * Signatures are checked for network `networkId` (the network id named at genesis).
 *
 * Every operator act is re-checked (OperatorAudit): the genesis, forced bootstraps, agreements,
 * exclusions and key rotations on identity's stream and the policies on the adjudicator's, against
 * the operator keys in force (docs/security.md, "Operator acts are signed").
 *
 * Then the identity and matchmaker streams are read and the three are cross-checked (CrossCheck):
 * a game the matchmaker never opened, credits or admissions no resolution or redeemed credit
 * justifies, an exclusion identity never made, a cancellation no exclusion caused, and every event
 * whose carried member signatures do not justify it (as the reacting services re-check them), are
 * reported with the stream they are on.
 */
export async function verify(options: {
  natsUrl: string;
  /** A NATS user that may read the streams (the reader); none on a server without authorization. */
  natsCredentials?: NatsCredentials;
  namespace: string;
  networkId: string;
  onProgress?: (p: { events: number }) => void;
}): Promise<VerifyResult> {
  const nc = await connect({
    ...natsConnectOptions(options.natsUrl, options.natsCredentials),
    inboxPrefix: natsInboxPrefix(options.namespace, "reader"),
    name: `${options.namespace}-verify`,
  });
  let reader: StreamReader | undefined;
  try {
    const names = streamNames(options.namespace, "adjudicator");
    const jsm = await jetstreamManager(nc);
    const lastOf = (service: "identity" | "matchmaker" | "adjudicator") =>
      jsm.streams
        .info(streamNames(options.namespace, service).stream)
        .then((info) => info.state.last_seq)
        .catch(() => undefined);
    // The cut: what is checked is each stream up to its last sequence now. The services may still be
    // appending; what they append later is read too, but only as evidence (the cause of an effect
    // inside the cut was appended before it, so it is on a stream by the time that stream is read).
    const last = (await jsm.streams.info(names.stream)).state.last_seq;
    // The cross-check needs all three streams: a network whose identity or matchmaker stream does
    // not exist (an adjudicator log on its own, e.g. an export) is audited on its own.
    const lasts = [await lastOf("identity"), await lastOf("matchmaker")];
    const crossChecking = !lasts.includes(undefined);
    const evidenceUntil = crossChecking ? ((await lastOf("adjudicator")) ?? last) : last;
    const audit = new Audit(options.networkId);
    const cross = new CrossCheck(options.networkId, {
      adjudicator: last,
      identity: lasts[0] ?? 0,
      matchmaker: lasts[1] ?? 0,
    });
    const operators = new OperatorAudit(options.networkId);
    reader = await StreamReader.open(jetstream(nc), names.stream);
    let events = 0;
    let reported = 0;
    for (let at = 0; at < evidenceUntil;) {
      const { messages, caughtUp } = await reader.takeRaw(BATCH, 100);
      for (const message of messages) {
        if (message.seq > evidenceUntil) break;
        at = message.seq;
        if (message.seq > last) {
          evidence(cross, "adjudicator", message.seq, message.data);
          continue;
        }
        const envelope = audit.check(message.seq, message.subject, message.data);
        if (envelope) {
          cross.add("adjudicator", message.seq, envelope);
          operators.addPolicy(message.seq, envelope);
        }
        events++;
      }
      if (events - reported >= PROGRESS_EVERY) {
        reported = events;
        options.onProgress?.({ events });
      }
      if (messages.length === 0 && caughtUp) break;
    }
    options.onProgress?.({ events });
    await reader.close();
    reader = undefined;
    if (!crossChecking) {
      // Operator acts are checked against the keys on identity's stream: without it, only the games are.
      return {
        events,
        games: audit.games,
        retargets: audit.retargets,
        skipped: audit.skipped,
        mismatches: audit.mismatches,
        operatorActs: 0,
      };
    }
    let crossChecked = 0;
    let skipped = audit.skipped;
    for (const [index, service] of (["identity", "matchmaker"] as const).entries()) {
      const stream = streamNames(options.namespace, service).stream;
      const until = lasts[index] ?? 0;
      const evidenceEnd = (await lastOf(service)) ?? until;
      if (evidenceEnd === 0) continue;
      reader = await StreamReader.open(jetstream(nc), stream);
      for (let at = 0; at < evidenceEnd;) {
        const { messages, caughtUp } = await reader.takeRaw(BATCH, 100);
        for (const message of messages) {
          if (message.seq > evidenceEnd) break;
          at = message.seq;
          if (message.seq > until) {
            evidence(cross, service, message.seq, message.data);
            continue;
          }
          crossChecked++;
          try {
            const envelope = decodeEnvelope(message.data);
            cross.add(service, message.seq, envelope);
            if (service === "identity") operators.addIdentity(message.seq, envelope);
          } catch (error) {
            skipped++;
            audit.mismatches.push({
              stream: service,
              seq: message.seq,
              gameId: aggregateIdOf(message.subject),
              problem: `skipped: cannot decode or cross-check it: ${(error as Error).message}`,
            });
          }
        }
        if (messages.length === 0 && caughtUp) break;
      }
      await reader.close();
      reader = undefined;
    }
    return {
      events,
      crossChecked,
      games: audit.games,
      retargets: audit.retargets,
      skipped,
      mismatches: [...audit.mismatches, ...operators.finish(), ...cross.finish()],
      operatorActs: operators.checked,
    };
  } finally {
    await reader?.close().catch(() => undefined);
    await nc.close();
  }
}

/** Feeds a message past the cut to the cross-check as evidence only (what it would report is not). */
function evidence(
  cross: CrossCheck,
  stream: "identity" | "matchmaker" | "adjudicator",
  seq: number,
  data: Uint8Array,
): void {
  let envelope: Envelope;
  try {
    envelope = decodeEnvelope(data);
  } catch {
    return; // Checked by the next run, once it is inside its cut.
  }
  cross.add(stream, seq, envelope);
}

/** The replayed state of the adjudicator's log and what did not check out. */
class Audit {
  position = 0;
  games = 0;
  /** Messages that could not be decoded or checked at all. */
  skipped = 0;
  readonly mismatches: VerifyMismatch[] = [];
  private readonly policies: Policy[] = [];
  /** The policy aggregate replayed, to re-derive every retarget of the stake period. */
  private policyState: PolicyState = initialPolicyState;
  /** Sponsored admissions decided so far (stream sequence, resolution time), which retargets count. */
  private readonly admissions: { seq: number; resolvedAt: number }[] = [];
  retargets = 0;
  /** Games in play. A resolved game needs no state: nothing may follow its resolution. */
  private readonly open = new Map<string, GameState>();
  private readonly resolved = new Set<string>();

  constructor(private readonly networkId: string) {}

  /**
   * Checks one message; returns its envelope when it could be decoded and checked (a message it
   * skips is not cross-checked either: what it claims, an outcome or credits, proves nothing).
   */
  check(seq: number, subject: string, data: Uint8Array): Envelope | undefined {
    this.position = seq;
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(data);
    } catch (error) {
      this.skipped++;
      this.report(seq, aggregateIdOf(subject), `skipped: undecodable message: ${(error as Error).message}`);
      return undefined;
    }
    try {
      this.checkEnvelope(seq, subject, envelope);
    } catch (error) {
      // A check that throws (an event the codecs or deciders refuse outright) is reported, not fatal.
      this.skipped++;
      this.report(seq, envelope.aggregateId, `skipped: cannot check ${envelope.type}: ${(error as Error).message}`);
      return undefined;
    }
    return envelope;
  }

  private checkEnvelope(seq: number, subject: string, envelope: Envelope): void {
    const body = envelope.event!;
    if (envelope.type !== eventTypeName(body.$case)) {
      this.report(seq, envelope.aggregateId, `envelope type ${envelope.type} does not match its ${body.$case} body`);
    }
    if (
      body.$case === "policyPublished" ||
      body.$case === "stakePeriodRetargeted" ||
      body.$case === "operatorKeysAdopted"
    ) {
      return this.checkPolicy(seq, envelope);
    }
    let event: GameEvent | undefined;
    try {
      event = gameEventFromWire(envelope);
    } catch (error) {
      // Skipped (see check): e.g. a GameResolved without its sponsors.
      throw new Error(`malformed ${envelope.type}: ${(error as Error).message}`, { cause: error });
    }
    if (!event)
      return this.report(seq, aggregateIdOf(subject), `${envelope.type} does not belong on the adjudicator's stream`);
    this.checkGame(seq, subject, event);
  }

  private checkPolicy(seq: number, envelope: Envelope): void {
    const event = policyAggregate.fromWire(envelope);
    if (!event) return;
    if (event.type === "StakePeriodRetargeted") return this.checkRetarget(seq, event);
    this.policyState = evolvePolicy(this.policyState, event);
    if (event.type === "OperatorKeysAdopted") return;
    const { policy } = event;
    if (policy.version !== this.policies.length + 1) {
      this.report(seq, "", `policy version ${policy.version} published after version ${this.policies.length}`);
    }
    try {
      // A policy published before growth rules existed carries none, and was valid when published.
      validatePolicy(policy, { acceptLegacyGrowth: true });
    } catch (error) {
      this.report(seq, "", `policy version ${policy.version} is invalid: ${(error as Error).message}`);
    }
    this.policies[policy.version - 1] = policy;
  }

  /**
   * A retarget is re-derived: the admissions it counted are recounted from the resolutions on the log
   * (admission games both sponsors cooperated in, resolved within the interval, up to its through_seq),
   * and the new stake period is recomputed by the pure decider from the policy state before it.
   */
  private checkRetarget(seq: number, event: Extract<PolicyEvent, { type: "StakePeriodRetargeted" }>): void {
    const recounted = this.admissions.filter(
      (a) => a.seq <= event.throughSeq && a.resolvedAt >= event.intervalStartMs && a.resolvedAt < event.intervalEndMs,
    ).length;
    if (recounted !== event.admissions) {
      this.report(
        seq,
        "",
        `StakePeriodRetargeted of interval ${event.interval} counted ${event.admissions} admissions; the log has ${recounted} through sequence ${event.throughSeq}`,
      );
    }
    let expected: PolicyEvent[];
    try {
      expected = decidePolicy(
        {
          type: "RetargetStakePeriod",
          policyVersion: event.policyVersion,
          interval: event.interval,
          admissions: event.admissions,
          throughSeq: event.throughSeq,
          now: event.intervalEndMs,
        },
        this.policyState,
      );
    } catch (error) {
      this.report(seq, "", `StakePeriodRetargeted refused by the decider: ${(error as Error).message}`);
      return;
    }
    const problem = difference(event, expected);
    if (problem) this.report(seq, "", problem);
    this.policyState = evolvePolicy(this.policyState, event);
    this.retargets++;
  }

  private checkGame(seq: number, subject: string, event: GameEvent): void {
    const { gameId } = event;
    if (aggregateIdOf(subject) !== gameId) {
      this.report(seq, gameId, `${event.type} of game ${gameId} is stored on ${subject}`);
    }
    if (this.resolved.has(gameId)) return this.report(seq, gameId, `${event.type} after the game was resolved`);
    const state = this.open.get(gameId) ?? initialGameState(gameId);
    if (event.type === "GameStarted") this.games++;
    const problem = this.recheck(state, event);
    if (problem) this.report(seq, gameId, problem);
    if (event.type === "GameResolved") {
      if (event.action.type === "admission" && event.outcome === "both-cooperated") {
        this.admissions.push({ seq, resolvedAt: event.resolvedAt });
      }
      this.open.delete(gameId);
      this.resolved.add(gameId);
    } else {
      this.open.set(gameId, evolveGame(state, event));
    }
  }

  /** Why the decider would not have produced `event` from `state`, or undefined when it would. */
  private recheck(state: GameState, event: GameEvent): string | undefined {
    let expected: GameEvent[];
    try {
      switch (event.type) {
        case "GameStarted": {
          if (state.phase !== "none") return "GameStarted for a game that had started already";
          for (const sponsor of [event.sponsorA, event.sponsorB]) {
            if (memberIdOf(sponsor.publicKey) !== sponsor.memberId) {
              return `sponsor ${sponsor.memberId} carries a public key that is not its own`;
            }
          }
          const policy = this.policies[event.policy.version - 1];
          if (!policy) return `opened under policy version ${event.policy.version}, which was never published before`;
          expected = decideGame(
            {
              type: "StartGame",
              gameId: event.gameId,
              sponsorA: event.sponsorA,
              sponsorB: event.sponsorB,
              action: event.action,
              policy,
              openedAt: event.openedAt,
              stakePeriodMs: event.stakePeriodMs,
              opening: event.opening,
            },
            state,
          );
          break;
        }
        case "MoveCommitted":
          expected = decideGame(
            {
              type: "CommitMove",
              networkId: this.networkId,
              memberId: event.memberId,
              commitment: event.commitment,
              signature: event.signature,
              now: event.at,
            },
            state,
          ).slice(0, 1);
          break;
        case "MoveRevealed":
          // A reveal that completes the game is decided together with the resolution, checked on its own.
          expected = decideGame(
            {
              type: "RevealMove",
              networkId: this.networkId,
              memberId: event.memberId,
              move: event.move,
              nonce: event.nonce,
              signature: event.signature,
              now: event.at,
            },
            state,
          ).slice(0, 1);
          break;
        case "GameResolved":
          expected = decideGame(
            event.outcome === "cancelled"
              ? { type: "CancelGame", now: event.resolvedAt, reason: "" }
              : { type: "Tick", now: event.resolvedAt },
            state,
          );
          break;
        default: {
          const unreachable: never = event;
          return `unknown event ${JSON.stringify(unreachable)}`;
        }
      }
    } catch (error) {
      return `${event.type} refused by the decider: ${(error as Error).message}`;
    }
    return difference(event, expected);
  }

  private report(seq: number, gameId: string, problem: string): void {
    this.mismatches.push({ seq, gameId, problem });
  }
}

/** Undefined when `expected` is exactly [`event`]; otherwise what differs. */
function difference<E extends { type: string }>(event: E, expected: readonly E[]): string | undefined {
  const [first] = expected;
  if (!first) return `${event.type} was not due: the decider derives nothing from the game's history at that time`;
  if (expected.length > 1 || first.type !== event.type) {
    return `${event.type} where the decider derives ${expected.map((e) => e.type).join(", ")}`;
  }
  const recorded = event as unknown as Record<string, unknown>;
  const derived = first as unknown as Record<string, unknown>;
  const fields = [...new Set([...Object.keys(recorded), ...Object.keys(derived)])].filter(
    (key) => canonical(recorded[key]) !== canonical(derived[key]),
  );
  if (fields.length === 0) return undefined;
  const shown = fields
    .slice(0, 4)
    .map((key) => `${key} is ${short(recorded[key])}, the decider derives ${short(derived[key])}`);
  return `${event.type} differs from what the decider derives: ${shown.join("; ")}`;
}

/** JSON with sorted keys, bytes as hex and undefined fields left out: equal values, equal text. */
function canonical(value: unknown): string {
  return JSON.stringify(plain(value)) ?? "undefined";
}

function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString("hex");
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, inner]) => inner !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, inner]) => [key, plain(inner)]),
    );
  }
  return value;
}

function short(value: unknown): string {
  const text = canonical(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
