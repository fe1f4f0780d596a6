import { ValidationError } from "@pot/mechanism";
import { UnavailableError } from "./grpc-status.js";

/** What waitForSequence needs of a projection runner (@pot/projections' ProjectionRunner fits). */
export interface SequenceWaiter {
  position(): number;
  /** True once position() reaches `seq`; false after `timeoutMs` or when the runner stops first. */
  waitFor(seq: number, timeoutMs: number): Promise<boolean>;
}

/** How long a call without a deadline may wait for a read model. */
export const DEFAULT_MAX_WAIT_MS = 5_000;

/**
 * Read-your-writes for queries: waits until `projection` has applied stream sequence
 * `minSequence` (a request's `min_sequence`; 0 means "don't wait"), at most until `deadline`, or
 * `maxWaitMs` when the caller set none. Throws UnavailableError if the read model is still behind,
 * so the caller retries rather than reading stale state.
 */
export async function waitForSequence(
  projection: SequenceWaiter,
  minSequence: bigint | number,
  deadline: Date | undefined,
  { maxWaitMs = DEFAULT_MAX_WAIT_MS, field = "min_sequence" }: { maxWaitMs?: number; field?: string } = {},
): Promise<void> {
  if (minSequence <= 0) return;
  if (minSequence > Number.MAX_SAFE_INTEGER) throw new ValidationError(field, "is beyond any stream sequence");
  const sequence = Number(minSequence);
  if (projection.position() >= sequence) return;
  const timeoutMs = Math.max(0, deadline === undefined ? maxWaitMs : deadline.getTime() - Date.now());
  if (await projection.waitFor(sequence, timeoutMs)) return;
  throw new UnavailableError(
    `the read model has applied up to sequence ${projection.position()}, not yet ${sequence}; retry later`,
  );
}
