/**
 * Names on the broker. A namespace (default "pot") prefixes every stream, subject and durable
 * consumer, so several networks - or several test runs - can share one NATS server.
 */
export type ServiceName = "identity" | "matchmaker" | "adjudicator";

const NAMESPACE = /^[a-z][a-z0-9_]{0,31}$/;

export function assertNamespace(namespace: string): string {
  if (!NAMESPACE.test(namespace)) {
    throw new Error(
      `namespace '${namespace}' is invalid: use 1-32 characters of a-z, 0-9 and '_', starting with a letter`,
    );
  }
  return namespace;
}

export interface StreamNames {
  readonly stream: string;
  /** Subject prefix without the trailing token, e.g. "pot.adjudicator". */
  readonly prefix: string;
  /** Wildcard covering the whole stream, e.g. "pot.adjudicator.>". */
  readonly all: string;
}

export function streamNames(namespace: string, service: ServiceName): StreamNames {
  const prefix = `${assertNamespace(namespace)}.${service}`;
  return { stream: `${namespace.toUpperCase()}_${service.toUpperCase()}`, prefix, all: `${prefix}.>` };
}

/** The durable consumer through which `reader` follows `source` for the purpose `role`. */
export function durableName(namespace: string, reader: ServiceName, role: string, source: ServiceName): string {
  return `${namespace}_${reader}_${role}_${source}`;
}

export function aggregateIdOf(subject: string): string {
  const dot = subject.lastIndexOf(".");
  return dot < 0 ? subject : subject.slice(dot + 1);
}
