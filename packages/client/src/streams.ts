import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";

/**
 * The public naming of a network's streams (docs/events.md): service S of namespace ns appends to
 * stream `<NS>_<S>` on subjects `<ns>.<s>.<aggregate>.<id>`. Written here from the contract, not
 * imported from the services' event store, so that a platform does not pull in server machinery.
 */
export type ServiceName = "identity" | "matchmaker" | "adjudicator";

export const SERVICE_NAMES: readonly ServiceName[] = ["identity", "matchmaker", "adjudicator"];

const NAMESPACE = /^[a-z][a-z0-9_]{0,31}$/;

export interface StreamNames {
  /** e.g. "POT_ADJUDICATOR" */
  readonly stream: string;
  /** e.g. "pot.adjudicator" */
  readonly prefix: string;
  /** e.g. "pot.adjudicator.>" */
  readonly all: string;
}

export function streamNames(namespace: string, service: ServiceName): StreamNames {
  if (!NAMESPACE.test(namespace)) {
    throw new Error(
      `namespace '${namespace}' is invalid: use 1-32 characters of a-z, 0-9 and '_', starting with a letter`,
    );
  }
  const prefix = `${namespace}.${service}`;
  return { stream: `${namespace.toUpperCase()}_${service.toUpperCase()}`, prefix, all: `${prefix}.>` };
}

/** JetStream's "stream not found" or "no message found". */
export function isNotFound(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamNotFound || error.code === JetStreamApiCodes.NoMessageFound)
  );
}
