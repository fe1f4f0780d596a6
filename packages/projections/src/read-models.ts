import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { durableName, streamNames, type EventStore, type ServiceName } from "@pot/event-store";
import type { Projection } from "./apply-batch.js";
import { startProjection, type ProjectionRunner, type StartProjectionOptions } from "./projection-runner.js";

/** One projection of a service and the stream it applies. */
export interface ReadModelProjection<DB> {
  readonly projection: Projection<DB>;
  /** The stream it applies: the service's own ("self") or another service's. */
  readonly stream: "self" | ServiceName;
  /** Subjects of that stream relative to its prefix, e.g. "member.>"; the whole stream when absent. */
  readonly filter?: string;
}

/**
 * Everything about a service's read models that both the service and a rebuild need: the schema,
 * its migrations, the tables the projections write and where each projection reads.
 */
export interface ReadModels<DB> {
  readonly service: ServiceName;
  /** The schema is `<namespace>_<schemaSuffix>`. */
  readonly schemaSuffix: string;
  readonly migrations: Record<string, Migration>;
  /** Every table the projections write, in the schema (what a rebuild compares). */
  readonly tables: readonly string[];
  readonly projections: readonly ReadModelProjection<DB>[];
}

export function readModelSchema(namespace: string, models: Pick<ReadModels<unknown>, "schemaSuffix">): string {
  return `${namespace}_${models.schemaSuffix}`;
}

/** Where a projection of `models` reads, under `namespace`: stream, subject filter and durable consumer. */
export function projectionSource<DB>(
  namespace: string,
  models: ReadModels<DB>,
  entry: ReadModelProjection<DB>,
): {
  readonly service: ServiceName;
  readonly stream: string;
  readonly filterSubject?: string;
  readonly durable: string;
} {
  const service = entry.stream === "self" ? models.service : entry.stream;
  const names = streamNames(namespace, service);
  return {
    service,
    stream: names.stream,
    ...(entry.filter ? { filterSubject: `${names.prefix}.${entry.filter}` } : {}),
    durable: durableName(namespace, models.service, entry.projection.name, service),
  };
}

export interface RunningProjection {
  /** The service whose stream the runner applies. */
  readonly source: ServiceName;
  readonly name: string;
  readonly runner: ProjectionRunner;
}

export interface RunningReadModels {
  readonly runners: readonly RunningProjection[];
  stop(): Promise<void>;
}

/**
 * Starts one runner per projection of `models`, each on a durable consumer named after the
 * projection (`<ns>_<service>_<projection>_<source>`). `store`'s connection reads every stream.
 */
export async function startReadModels<DB>(
  options: {
    readonly models: ReadModels<DB>;
    readonly db: Kysely<DB>;
    readonly store: EventStore;
    readonly namespace: string;
  } & Omit<StartProjectionOptions<DB>, "db" | "store" | "sourceStream" | "durable" | "filterSubject" | "projection">,
): Promise<RunningReadModels> {
  const { models, namespace, ...common } = options;
  const runners: RunningProjection[] = [];
  try {
    for (const entry of models.projections) {
      const source = projectionSource(namespace, models, entry);
      const runner = await startProjection({
        ...common,
        sourceStream: source.stream,
        durable: source.durable,
        ...(source.filterSubject ? { filterSubject: source.filterSubject } : {}),
        projection: entry.projection,
      });
      runners.push({ source: source.service, name: entry.projection.name, runner });
    }
  } catch (error) {
    await Promise.allSettled(runners.map(({ runner }) => runner.stop()));
    throw error;
  }
  return {
    runners,
    async stop() {
      await Promise.all(runners.map(({ runner }) => runner.stop()));
    },
  };
}
