import {
  metrics,
  type Counter,
  type Gauge,
  type Histogram,
  type Meter,
  type ObservableGauge,
} from "@opentelemetry/api";
import { BUCKETS, type MetricDefinition } from "./names.js";

type Typed<T extends MetricDefinition["type"]> = MetricDefinition & { readonly type: T };

function options(metric: MetricDefinition) {
  return { unit: metric.unit, description: metric.description };
}

/**
 * The meter of a package or service. Call it when the component starts, not at module load: the
 * global meter provider is the preload's only once it has run.
 */
export function meter(name: string): Meter {
  return metrics.getMeter(name);
}

export function createCounter(m: Meter, metric: Typed<"counter">): Counter {
  return m.createCounter(metric.name, options(metric));
}

export function createHistogram(m: Meter, metric: Typed<"histogram">): Histogram {
  const buckets = metric.unit === "s" ? BUCKETS.seconds : BUCKETS.messages;
  return m.createHistogram(metric.name, { ...options(metric), advice: { explicitBucketBoundaries: [...buckets] } });
}

export function createGauge(m: Meter, metric: Typed<"gauge">): Gauge {
  return m.createGauge(metric.name, options(metric));
}

export function createObservableGauge(m: Meter, metric: Typed<"gauge">): ObservableGauge {
  return m.createObservableGauge(metric.name, options(metric));
}

/** Seconds since `startedAt` (a performance.now() reading). */
export function secondsSince(startedAt: number): number {
  return (performance.now() - startedAt) / 1_000;
}
