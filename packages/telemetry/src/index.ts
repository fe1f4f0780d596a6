// Depends on @opentelemetry/api only: the SDK is started by the preload (./register), never imported here.
export {
  ATTR,
  BUCKETS,
  METRICS,
  prometheusName,
  prometheusSeries,
  type InstrumentType,
  type MetricDefinition,
  type MetricKey,
} from "./names.js";
export { extractContext, injectContext, linkFrom, linksFrom, type HeaderReader } from "./context.js";
export {
  createCounter,
  createGauge,
  createHistogram,
  createObservableGauge,
  meter,
  secondsSince,
} from "./instruments.js";
export { shutdownTelemetry, SHUTDOWN_HOOK } from "./lifecycle.js";
