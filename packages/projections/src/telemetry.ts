import { trace, type Gauge, type Histogram, type Tracer } from "@opentelemetry/api";
import { createGauge, createHistogram, meter, METRICS } from "@pot/telemetry";

export const TRACER_NAME = "@pot/projections";

export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

interface Instruments {
  readonly batchSize: Histogram;
  readonly batchDuration: Histogram;
  readonly lagEvents: Gauge;
  readonly lagSeconds: Gauge;
}

let instruments: Instruments | undefined;

/** The package's instruments, created on first use (after the preload registered the SDK). */
export function projectionInstruments(): Instruments {
  if (instruments) return instruments;
  const m = meter(TRACER_NAME);
  instruments = {
    batchSize: createHistogram(m, METRICS.projectionBatchSize),
    batchDuration: createHistogram(m, METRICS.projectionBatchDuration),
    lagEvents: createGauge(m, METRICS.projectionLagEvents),
    lagSeconds: createGauge(m, METRICS.projectionLagSeconds),
  };
  return instruments;
}
