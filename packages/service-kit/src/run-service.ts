import { constants } from "node:os";
import { ConfigError, readServiceConfig, type Env, type ServiceConfig } from "./config.js";
import { createLogger, type PinoLogger } from "./logger.js";

/** What a started service hands back: how to stop it, and where it listens (for the "ready" line). */
export interface RunningService {
  close(): Promise<void>;
  /** The bound gRPC address; the configured GRPC_ADDRESS is logged when omitted. */
  address?: string;
}

export type StartService = (config: ServiceConfig, logger: PinoLogger) => Promise<RunningService>;

export interface RunServiceOptions {
  /** GRPC_ADDRESS when the environment sets none. */
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
 * Resolves once the service is ready or has failed to start; never rejects. A ConfigError, from
 * the shared config or thrown by `start`, prints its one sentence to stderr and sets exit code 78;
 * any other start failure is logged and sets exit code 1. `start` must release what it opened
 * before it throws.
 */
export async function runService(name: string, start: StartService, options: RunServiceOptions = {}): Promise<void> {
  let config: ServiceConfig;
  try {
    config = readServiceConfig(options.env ?? process.env, {
      defaultGrpcAddress: options.defaultGrpcAddress ?? DEFAULT_GRPC_ADDRESS,
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return reportConfigError(error);
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
    if (error instanceof ConfigError) return reportConfigError(error);
    logger.error({ err: error }, "failed to start");
    process.exitCode = 1;
    return;
  }
  logger.info({ address: running.address ?? config.grpcAddress }, "ready");
  // A signal that arrived while starting is acted on now that there is something to close.
  if (signalled) void stop(running);
}

function reportConfigError(error: ConfigError): void {
  process.stderr.write(`${error.message}\n`);
  process.exitCode = CONFIG_ERROR_EXIT_CODE;
}
