/** Where the preload leaves its shutdown function, so that code which never imports the SDK can call it. */
export const SHUTDOWN_HOOK = Symbol.for("pot.telemetry.shutdown");

/**
 * Flushes spans and metrics still buffered and stops the SDK (and its Prometheus endpoint, which
 * would otherwise keep the process alive). A no-op when the preload did not start an SDK.
 */
export async function shutdownTelemetry(): Promise<void> {
  const hook = (globalThis as Record<symbol, unknown>)[SHUTDOWN_HOOK];
  if (typeof hook === "function") await (hook as () => Promise<void>)();
}
