import { JetStreamApiError, JetStreamApiCodes } from "@nats-io/jetstream";

/** JetStream's error code for "wrong last msg ID" (not in the client's table). */
const STREAM_WRONG_LAST_MSG_ID = 10070;

/**
 * JetStream's "wrong last sequence" or "wrong last msg ID": another writer appended first, or an
 * append this one was chained to was not stored.
 */
export function isWrongLastSequence(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === STREAM_WRONG_LAST_MSG_ID)
  );
}

export function isJetStreamNotFound(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamNotFound ||
      error.code === JetStreamApiCodes.ConsumerNotFound ||
      error.code === JetStreamApiCodes.NoMessageFound)
  );
}
