/**
 * The OpenTelemetry preload of every service: `node --import @pot/telemetry/register dist/main.js`.
 *
 * Configured only by the environment: the SDK's standard OTEL_* variables (OTEL_SDK_DISABLED,
 * OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT / _PROTOCOL, OTEL_TRACES_EXPORTER,
 * OTEL_METRICS_EXPORTER, OTEL_METRIC_EXPORT_INTERVAL, OTEL_BSP_SCHEDULE_DELAY, ...), plus one
 * shorthand: METRICS_PORT=<port> adds a Prometheus scrape endpoint (`/metrics`) on that port to the
 * OTLP export (0 or unset: none). Service code uses @opentelemetry/api only.
 *
 * It runs before the service's modules load so that the pg instrumentation can wrap `pg` when the
 * ESM graph imports it (an import-in-the-middle loader hook limited to that one module).
 */
import { register } from "node:module";
import { isMainThread } from "node:worker_threads";
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg";
import { NodeSDK } from "@opentelemetry/sdk-node";
import { createAddHookMessageChannel } from "import-in-the-middle";
import { SHUTDOWN_HOOK } from "./lifecycle.js";

const CONFIG_ERROR_EXIT_CODE = 78;

function isTrue(value: string | undefined): boolean {
  return value?.trim().toLowerCase() === "true";
}

/** METRICS_PORT as OTEL_METRICS_EXPORTER += prometheus with OTEL_EXPORTER_PROMETHEUS_PORT. */
function applyMetricsPort(env: NodeJS.ProcessEnv): void {
  const raw = env.METRICS_PORT?.trim();
  if (raw === undefined || raw === "") return;
  const port = /^\d{1,5}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(port) || port > 65_535) {
    process.stderr.write(`METRICS_PORT ${JSON.stringify(raw)} is not a port number between 0 and 65535\n`);
    process.exit(CONFIG_ERROR_EXIT_CODE);
  }
  if (port === 0) return;
  const exporters = (env.OTEL_METRICS_EXPORTER ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "" && name !== "none");
  // Unset means "otlp" to the SDK; "none" means no OTLP, but the scrape endpoint was asked for.
  const otlp = env.OTEL_METRICS_EXPORTER === undefined || env.OTEL_METRICS_EXPORTER.trim() === "";
  const wanted = new Set([...(otlp ? ["otlp"] : exporters), "prometheus"]);
  env.OTEL_METRICS_EXPORTER = [...wanted].join(",");
  env.OTEL_EXPORTER_PROMETHEUS_PORT = String(port);
}

/** OTEL_SERVICE_NAME, else service.name in OTEL_RESOURCE_ATTRIBUTES, else the npm package that runs us. */
function fallbackServiceName(env: NodeJS.ProcessEnv): string | undefined {
  if (env.OTEL_SERVICE_NAME) return undefined;
  if (/(^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? "")) return undefined;
  return env.npm_package_name?.replace(/^@pot\//, "");
}

async function start(): Promise<void> {
  const env = process.env;
  if (isTrue(env.OTEL_SDK_DISABLED)) return;
  applyMetricsPort(env);

  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register("import-in-the-middle/hook.mjs", import.meta.url, registerOptions);

  const serviceName = fallbackServiceName(env);
  const sdk = new NodeSDK({
    ...(serviceName ? { serviceName } : {}),
    instrumentations: [
      // Queries outside any trace (the deadline sweep's polling) would each start a trace of their own.
      new PgInstrumentation({ requireParentSpan: true, ignoreConnectSpans: true }),
    ],
  });
  sdk.start();
  let stopping: Promise<void> | undefined;
  (globalThis as Record<symbol, unknown>)[SHUTDOWN_HOOK] = () => (stopping ??= sdk.shutdown().catch(() => undefined));
  await waitForAllMessagesAcknowledged();
}

if (isMainThread) await start();
