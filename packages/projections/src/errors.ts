/**
 * The checkpoint is not where the writer expected it: another runner (or an operator) moved it.
 * The transaction that saw it was rolled back, so nothing of the batch was written.
 */
export class StaleCheckpointError extends Error {
  override readonly name = "StaleCheckpointError";

  constructor(
    readonly projection: string,
    readonly expected: number,
    /** The stored checkpoint, when it was read; undefined when the compare-and-set matched no row. */
    readonly actual: number | undefined,
    options?: ErrorOptions,
  ) {
    super(
      actual === undefined
        ? `checkpoint of projection ${projection} moved away from ${expected} during the batch`
        : `checkpoint of projection ${projection} is ${actual}, not the expected ${expected}`,
      options,
    );
  }
}

/** The message of an error for a one-line report; Node gives connection failures to several addresses as an AggregateError without a message. */
export function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(messageOf).join("; ");
  if (error instanceof Error) return error.message || (error as { code?: string }).code || error.name;
  return String(error);
}
