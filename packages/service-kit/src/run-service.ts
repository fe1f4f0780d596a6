import { constants } from "node:os";
import { shutdownTelemetry } from "@pot/telemetry";
import { ConfigError, readServiceConfig, withPort, type Env, type ServiceConfig } from "./config.js";
import { createLogger, type PinoLogger } from "./logger.js";

/** What a started service hands back: how to stop it, and where it listens (for the "ready" line). */
export interface RunningService {
  close(): Promise<void>;
  /** The bound gRPC address. */
  address?: string;
  /** The bound gRPC port, used with the configured host when `address` is omitted. */
  port?: number;
}

/** The config fields runService itself uses; a service's own config extends ServiceConfig. */
export type RunnableConfig = Pick<ServiceConfig, "logLevel" | "grpcAddress">;

export type StartService<C extends RunnableConfig = ServiceConfig> = (
  config: C,
  logger: PinoLogger,
) => Promise<RunningService>;

export type ReadConfig<C extends RunnableConfig> = (env: Env) => C;

export interface RunServiceOptions {
  /** GRPC_ADDRESS when the environment sets none (only for the form without `readConfig`). */
  defaultGrpcAddress?: string;
  env?: Env;
}

export const DEFAULT_GRPC_ADDRESS = "127.0.0.1:50051";
/** EX_CONFIG from sysexits.h: the configuration is wrong, restarting will not help. */
export const CONFIG_ERROR_EXIT_CODE = 78;
const LINGER_WARNING_MS = 5_000;

/**
 * The body of every `main.ts`: read the config, start, log "ready", and on the first SIGTERM or
 * SIGINT close once; a second signal exits at once. The process then ends by itself when the
 * event loop is empty, so a resource that close() forgot shows up as a process that lingers (and
 * a warning listing what holds it) rather than being hidden by process.exit.
 *
 * Two forms: `runService(name, start, options?)` reads the shared ServiceConfig;
 * `runService(name, readConfig, start, options?)` reads the service's own config with `readConfig`.
 *
 * Telemetry started by the preload (@pot/telemetry/register) is flushed and stopped last, after
 * close() or a failed start, so that the spans of the shutdown are exported too.
 *
 * Resolves once the service is ready or has failed to start; rejects only when reading the config
 * throws something other than a ConfigError (a bug). A ConfigError, from
 * reading the config or thrown by `start`, prints its one sentence to stderr and sets exit code 78;
 * any other start failure is logged and sets exit code 1. `start` must release what it opened
 * before it throws.
 */
export function runService(name: string, start: StartService, options?: RunServiceOptions): Promise<void>;
export function runService<C extends RunnableConfig>(
  name: string,
  readConfig: ReadConfig<C>,
  start: StartService<C>,
  options?: Pick<RunServiceOptions, "env">,
): Promise<void>;
export function runService(
  name: string,
  first: StartService | ReadConfig<RunnableConfig>,
  second?: StartService<RunnableConfig> | RunServiceOptions,
  third?: Pick<RunServiceOptions, "env">,
): Promise<void> {
  if (typeof second === "function") {
    return run(name, first as ReadConfig<RunnableConfig>, second, third?.env ?? process.env);
  }
  const defaultGrpcAddress = second?.defaultGrpcAddress ?? DEFAULT_GRPC_ADDRESS;
  const readConfig = (env: Env) => readServiceConfig(env, { defaultGrpcAddress });
  return run(name, readConfig, first as StartService<RunnableConfig>, second?.env ?? process.env);
}

async function run<C extends RunnableConfig>(
  name: string,
  readConfig: ReadConfig<C>,
  start: StartService<C>,
  env: Env,
): Promise<void> {
  let config: C;
  try {
    config = readConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    reportConfigError(error);
    return shutdownTelemetry();
  }

  const logger = createLogger(name, config.logLevel);
  process.on("unhandledRejection", (reason) => logger.error({ err: reason }, "unhandled promise rejection"));
  process.on("uncaughtExceptionMonitor", (error, origin) => logger.fatal({ err: error, origin }, "uncaught exception"));

  let running: RunningService | undefined;
  let signalled = false;

  const stop = async (service: RunningService) => {
    try {
      await service.close();
      logger.info({}, "stopped");
    } catch (error) {
      logger.error({ err: error }, "failed to close cleanly");
      process.exitCode = 1;
    } finally {
      removeSignalHandlers();
      await shutdownTelemetry();
      setTimeout(() => {
        logger.warn(
          { resources: process.getActiveResourcesInfo() },
          "still running after close: something holds the event loop",
        );
      }, LINGER_WARNING_MS).unref();
    }
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      logger.warn({ signal }, "second signal: exiting without finishing the shutdown");
      process.exit(128 + (constants.signals[signal] ?? 0));
    }
    signalled = true;
    logger.info({ signal }, "shutting down");
    if (running !== undefined) void stop(running);
  };
  const removeSignalHandlers = () => {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  try {
    running = await start(config, logger);
  } catch (error) {
    removeSignalHandlers();
    if (error instanceof ConfigError) reportConfigError(error);
    else {
      logger.error({ err: error }, "failed to start");
      process.exitCode = 1;
    }
    return shutdownTelemetry();
  }
  const address =
    running.address ?? (running.port === undefined ? config.grpcAddress : withPort(config.grpcAddress, running.port));
  logger.info({ address }, "ready");
  // A signal that arrived while starting is acted on now that there is something to close.
  if (signalled) void stop(running);
}

function reportConfigError(error: ConfigError): void {
  process.stderr.write(`${error.message}\n`);
  process.exitCode = CONFIG_ERROR_EXIT_CODE;
}
