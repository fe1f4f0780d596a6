import { echo, ValidationError } from "@pot/mechanism";
import { UnavailableError } from "./grpc-status.js";
import { DEFAULT_MAX_WAIT_MS, waitForSequence, type SequenceWaiter } from "./wait-for-sequence.js";

/**
 * Read-your-writes across services. Every command answers with a consistency token naming the
 * stream it appended to and the sequence, e.g. "adjudicator:1234"; a query to any service that
 * passes it waits until that service's read model reflects the event and everything the service
 * did in reaction to it (identity admitting the candidate of a resolved game, say). Several tokens
 * may be joined with commas. `min_sequence` keeps its narrower meaning: the service's own stream,
 * as its read model has applied it.
 */
export interface ConsistencyTarget {
  /** The service whose stream the sequence is in. */
  readonly stream: string;
  readonly seq: number;
}

export interface ConsistencyWaiter {
  /** The service's read model of its own stream (what `min_sequence` waits for). */
  readonly projection: SequenceWaiter;
  /** The streams the service's read models follow, directly or through its reactions (its own included). */
  follows(stream: string): boolean;
  /** Undefined once the read model reflects `target`; otherwise what is still missing after `timeoutMs`. */
  waitFor(target: ConsistencyTarget, timeoutMs: number): Promise<string | undefined>;
  /**
   * The server's cap on one call's wait (CONSISTENCY_WAIT_MAX_MS), whatever deadline the caller set:
   * a waiting call holds memory and a slot of the connection. DEFAULT_MAX_WAIT_MS when unset.
   */
  readonly maxWaitMs?: number;
}

const TOKEN_PART = /^([a-z]+):([0-9]{1,16})$/;
const ANSWER_MARGIN_MS = 50;
const MAX_TOKEN_PARTS = 8;
/** Longer than any token of MAX_TOKEN_PARTS entries: refused before it is split or matched. */
export const MAX_CONSISTENCY_TOKEN_LENGTH = 256;

export function formatConsistencyToken(stream: string, seq: number | bigint): string {
  return `${stream}:${seq}`;
}

/** The targets of a token ("" for none); throws ValidationError naming `field` when it is malformed. */
export function parseConsistencyToken(token: string, field = "consistency_token"): ConsistencyTarget[] {
  if (token.length > MAX_CONSISTENCY_TOKEN_LENGTH) {
    throw new ValidationError(field, `is ${token.length} characters long, at most ${MAX_CONSISTENCY_TOKEN_LENGTH}`);
  }
  if (token.trim() === "") return [];
  const parts = token.split(",").map((part) => part.trim());
  if (parts.length > MAX_TOKEN_PARTS) throw new ValidationError(field, `has more than ${MAX_TOKEN_PARTS} entries`);
  return parts.map((part) => {
    const match = TOKEN_PART.exec(part);
    const seq = match ? Number(match[2]) : NaN;
    if (!match || !Number.isSafeInteger(seq) || seq < 1) {
      throw new ValidationError(field, `'${echo(part)}' is not <service>:<sequence>, e.g. adjudicator:1234`);
    }
    return { stream: match[1]!, seq };
  });
}

/**
 * Waits, at most until just before `deadline` and never longer than `maxWaitMs` (the waiter's cap, else
 * DEFAULT_MAX_WAIT_MS), until the read model has applied
 * `minSequence` of the service's own stream and reflects every target of `consistencyToken`.
 * Throws ValidationError for a malformed token or a stream the service does not follow, and
 * UnavailableError when the read model is still behind, so the caller retries.
 */
export async function waitForConsistency(
  waiter: ConsistencyWaiter,
  request: { readonly minSequence: bigint | number; readonly consistencyToken: string },
  deadline: Date | undefined,
  { maxWaitMs = waiter.maxWaitMs ?? DEFAULT_MAX_WAIT_MS }: { maxWaitMs?: number } = {},
): Promise<void> {
  const targets = parseConsistencyToken(request.consistencyToken);
  for (const target of targets) {
    if (!waiter.follows(target.stream)) {
      throw new ValidationError("consistency_token", `this service does not follow the ${target.stream} stream`);
    }
  }
  // Stop waiting a little before the caller's deadline, so that the answer is UNAVAILABLE with the
  // reason rather than the caller's DEADLINE_EXCEEDED.
  const capped = Date.now() + maxWaitMs;
  const until = deadline === undefined ? capped : Math.min(capped, deadline.getTime() - ANSWER_MARGIN_MS);
  await waitForSequence(waiter.projection, request.minSequence, new Date(until));
  for (const target of targets) {
    const missing = await waiter.waitFor(target, Math.max(0, until - Date.now()));
    if (missing !== undefined) throw new UnavailableError(`${missing}; retry later`);
  }
}
