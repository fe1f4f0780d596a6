import { isServiceError, LocalFileError, status, statusName, StreamNotFoundError } from "@pot/client";

/** The exit codes of `pot`, documented in README.md ("The pot CLI"). Scripts may rely on them. */
export const EXIT = {
  ok: 0,
  /** Anything not listed below (a bug, an INTERNAL or UNKNOWN status). */
  failure: 1,
  /** Bad arguments or options, or a local file (key, sealed moves, consent) missing or malformed. */
  usage: 2,
  /** A service refused the input as malformed (INVALID_ARGUMENT). */
  invalidArgument: 3,
  /** The member, proposal, game or policy does not exist (NOT_FOUND). */
  notFound: 4,
  /**
   * Well-formed, but the state does not allow it now (FAILED_PRECONDITION), or a policy quota or cap is
   * used up (RESOURCE_EXHAUSTED): the message says why and from when.
   */
  failedPrecondition: 5,
  /** The signature does not verify, or the member may not do this (PERMISSION_DENIED). */
  permissionDenied: 6,
  /** The id is taken, or the candidate is already a member (ALREADY_EXISTS). */
  alreadyExists: 7,
  /** A concurrent change kept winning (ABORTED): retry. */
  aborted: 8,
  /** A service, NATS or Postgres did not answer in time (UNAVAILABLE, DEADLINE_EXCEEDED): retry later. */
  unavailable: 9,
  /** `pot verify` found mismatches in the log; `pot replay` skipped messages it could not apply. */
  mismatches: 10,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI raises itself, with the exit code and the one sentence to print. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export function usageError(message: string): CliError {
  return new CliError(EXIT.usage, message);
}

const BY_STATUS: Partial<Record<status, ExitCode>> = {
  [status.INVALID_ARGUMENT]: EXIT.invalidArgument,
  [status.OUT_OF_RANGE]: EXIT.invalidArgument,
  [status.NOT_FOUND]: EXIT.notFound,
  [status.FAILED_PRECONDITION]: EXIT.failedPrecondition,
  [status.RESOURCE_EXHAUSTED]: EXIT.failedPrecondition,
  [status.PERMISSION_DENIED]: EXIT.permissionDenied,
  [status.UNAUTHENTICATED]: EXIT.permissionDenied,
  [status.ALREADY_EXISTS]: EXIT.alreadyExists,
  [status.ABORTED]: EXIT.aborted,
  [status.UNAVAILABLE]: EXIT.unavailable,
  [status.DEADLINE_EXCEEDED]: EXIT.unavailable,
};

export function exitCodeForStatus(code: number): ExitCode {
  return BY_STATUS[code as status] ?? EXIT.failure;
}

/** Connection failures of NATS (nats.js) or Postgres (node-postgres), recognised by their codes. */
function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (
    typeof code === "string" &&
    ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND"].includes(code)
  )
    return true;
  const name = (error as Error)?.name;
  return (
    name === "ConnectionError" ||
    name === "TimeoutError" ||
    /CONNECTION_REFUSED|connection refused/i.test(String((error as Error)?.message))
  );
}

/** One line, at most `max` characters: server messages can carry newlines and long causes. */
export function oneLine(text: string, max = 400): string {
  const line = text.replace(/\s*\n\s*/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

/** The exit code and the sentence (without the "pot: " prefix) for any error a command ends with. */
export function describeError(error: unknown): { exitCode: ExitCode; message: string; status?: string } {
  if (error instanceof CliError) return { exitCode: error.exitCode, message: oneLine(error.message) };
  if (error instanceof LocalFileError) return { exitCode: EXIT.usage, message: oneLine(error.message) };
  if (error instanceof StreamNotFoundError) {
    return { exitCode: EXIT.notFound, message: oneLine(`${error.message} (--namespace)`) };
  }
  if (isServiceError(error)) {
    const name = statusName(error.code);
    const exitCode = exitCodeForStatus(error.code);
    const details = oneLine(
      (error.details || error.message)
        .replace(/^No connection established\. Last error: (Error: )?/, "cannot connect: ")
        .replace(/\.? ?Resolution note:.*$/, ""),
    );
    const hint =
      error.code === status.UNAVAILABLE
        ? " (is the service running? `npm start` runs all three; see --identity/--matchmaker/--adjudicator)"
        : "";
    return { exitCode, message: `${details} [${name}]${hint}`, status: name };
  }
  if (isConnectionFailure(error)) {
    return { exitCode: EXIT.unavailable, message: oneLine(`cannot connect: ${(error as Error).message}`) };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { exitCode: EXIT.failure, message: oneLine(message) };
}
