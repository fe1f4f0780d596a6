import { status } from "@grpc/grpc-js";
import { isPotError, type PotErrorCode } from "@pot/mechanism";

export interface GrpcStatus {
  code: status;
  details: string;
}

const statusByErrorCode: Record<PotErrorCode, status> = {
  validation: status.INVALID_ARGUMENT,
  "illegal-state": status.FAILED_PRECONDITION,
  "not-found": status.NOT_FOUND,
  permission: status.PERMISSION_DENIED,
  concurrency: status.ABORTED,
  "already-exists": status.ALREADY_EXISTS,
  exhausted: status.RESOURCE_EXHAUSTED,
};

/**
 * The service cannot answer yet but may soon (a read model behind the caller's sequence, a
 * dependency starting up). Its message is written for the caller; it maps to UNAVAILABLE.
 */
export class UnavailableError extends Error {
  override readonly name = "UnavailableError";
}

export const UNAVAILABLE_DETAILS = "a backing service (message broker or database) is unavailable; retry later";
export const INTERNAL_DETAILS = "internal error";

/**
 * The one place a failure becomes a gRPC status. Domain errors keep their message (it is written
 * for the caller); connectivity failures and everything else get a fixed message, so neither host
 * names nor stack traces reach a client. The caller logs the original error.
 */
export function toGrpcStatus(error: unknown): GrpcStatus {
  if (isPotError(error)) return { code: statusByErrorCode[error.code], details: capped(error.message) };
  if (error instanceof UnavailableError) return { code: status.UNAVAILABLE, details: capped(error.message) };
  if (isConnectivityError(error)) return { code: status.UNAVAILABLE, details: UNAVAILABLE_DETAILS };
  return { code: status.INTERNAL, details: INTERNAL_DETAILS };
}

/**
 * Status details travel in an HTTP/2 trailer, and a client drops a connection whose headers pass its
 * limit (8 KiB by default in grpc-js): whatever a message quotes, it is cut well below that.
 */
export const MAX_DETAILS_LENGTH = 1024;

function capped(details: string): string {
  return details.length <= MAX_DETAILS_LENGTH ? details : `${details.slice(0, MAX_DETAILS_LENGTH - 1)}…`;
}

// Socket-level failures, as Node reports them for NATS and Postgres connections alike.
const systemErrorCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
]);

// nats.js (@nats-io/nats-core v3) error class names: the connection is gone, closing, or no
// server answered in time. Matched by name so the kit does not depend on the NATS client.
const natsErrorNames = new Set([
  "ConnectionError",
  "ClosedConnectionError",
  "DrainingConnectionError",
  "TimeoutError",
  "NoResponders",
  "NoRespondersError",
]);

// Postgres SQLSTATEs: class 08 is "connection exception"; the others mean the server is going
// away or full. Everything else (constraint violations, syntax) is a bug or a domain matter.
const postgresUnavailableStates = new Set(["57P01", "57P02", "57P03", "53300"]);

// node-postgres (pg, pg-pool) reports lost or unobtainable connections as plain Errors.
const postgresConnectivityMessages = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect$/,
  /^Client has encountered a connection error and is not queryable$/,
  /^Client was closed and is not queryable$/,
];

/** Whether `error`, or anything in its `cause` chain, says the broker or the database is unreachable. */
export function isConnectivityError(error: unknown, depth = 0): boolean {
  if (depth > 8 || typeof error !== "object" || error === null) return false;
  const { code, name, message, cause } = error as {
    code?: unknown;
    name?: unknown;
    message?: unknown;
    cause?: unknown;
  };
  if (typeof code === "string") {
    if (systemErrorCodes.has(code) || postgresUnavailableStates.has(code)) return true;
    if (/^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  if (typeof name === "string" && natsErrorNames.has(name)) return true;
  if (typeof message === "string" && postgresConnectivityMessages.some((pattern) => pattern.test(message))) return true;
  if (error instanceof AggregateError && error.errors.some((inner) => isConnectivityError(inner, depth + 1)))
    return true;
  return isConnectivityError(cause, depth + 1);
}
