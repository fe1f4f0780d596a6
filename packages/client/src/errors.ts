import { status, type ServiceError } from "@grpc/grpc-js";

export { status };

/** True for an error a gRPC call rejected with (it carries a numeric status code). */
export function isServiceError(error: unknown): error is ServiceError {
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as ServiceError).code === "number" &&
    "details" in error &&
    "metadata" in error
  );
}

export function isStatus(error: unknown, code: status): boolean {
  return isServiceError(error) && error.code === code;
}

/** "FAILED_PRECONDITION" for 9; "UNKNOWN" for a code grpc-js does not name. */
export function statusName(code: number): string {
  return status[code] ?? "UNKNOWN";
}

/** A local file the client keeps (a key file, the sealed moves) is missing, unreadable or malformed. */
export class LocalFileError extends Error {
  override readonly name = "LocalFileError";
  constructor(
    readonly path: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A service's stream does not exist: the namespace is wrong, or the service never ran there. */
export class StreamNotFoundError extends Error {
  override readonly name = "StreamNotFoundError";
  constructor(
    readonly stream: string,
    options?: ErrorOptions,
  ) {
    super(`stream ${stream} does not exist: is the namespace right, and has the service run in it?`, options);
  }
}
