import { JetStreamApiError, JetStreamApiCodes } from "@nats-io/jetstream";

/** JetStream's "wrong last sequence": another writer appended to the subject first. */
export function isWrongLastSequence(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamWrongLastSequence;
}

export function isJetStreamNotFound(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamNotFound ||
      error.code === JetStreamApiCodes.ConsumerNotFound ||
      error.code === JetStreamApiCodes.NoMessageFound)
  );
}
