/**
 * The few errors a decision can end in. Each maps to one gRPC status in the service kit, and
 * nowhere else. `name` is a class field so it survives minification and structured logging.
 */
export type PotErrorCode =
  "validation" | "illegal-state" | "not-found" | "permission" | "concurrency" | "already-exists" | "exhausted";

export abstract class PotError extends Error {
  abstract readonly code: PotErrorCode;
}

/** Malformed input. `field` names the offending request field, dotted for nesting. */
export class ValidationError extends PotError {
  override readonly name = "ValidationError";
  readonly code = "validation" as const;
  constructor(
    readonly field: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${field}: ${message}`, options);
  }
}

/** Well-formed, but the aggregate is not in a state that allows it. */
export class IllegalStateError extends PotError {
  override readonly name = "IllegalStateError";
  readonly code = "illegal-state" as const;
}

export class NotFoundError extends PotError {
  override readonly name = "NotFoundError";
  readonly code = "not-found" as const;
}

/** The signer is not who the request claims, or may not do this. */
export class PermissionError extends PotError {
  override readonly name = "PermissionError";
  readonly code = "permission" as const;
}

/** Someone else changed the aggregate first; retrying after a reload may succeed. */
export class ConcurrencyError extends PotError {
  override readonly name = "ConcurrencyError";
  readonly code = "concurrency" as const;
}

export class AlreadyExistsError extends PotError {
  override readonly name = "AlreadyExistsError";
  readonly code = "already-exists" as const;
}

/**
 * A per-member allowance of the policy is used up (a quota or cap over a window, or a count of things
 * in flight); the message names the rule and says when the act will be allowed again.
 */
export class ExhaustedError extends PotError {
  override readonly name = "ExhaustedError";
  readonly code = "exhausted" as const;
}

export function isPotError(error: unknown): error is PotError {
  return error instanceof PotError;
}
