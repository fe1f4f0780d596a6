// Spawned by run-service.int.test.ts: a minimal main.ts built on runService.
// FIXTURE_FORM=own-config uses the (name, readConfig, start) form with a config of its own.
import { setTimeout as sleep } from "node:timers/promises";
import {
  createGrpcServer,
  implement,
  readInteger,
  readServiceConfig,
  runService,
  withPort,
  type Env,
  type PinoLogger,
  type ServiceConfig,
} from "../index.js";
import { ECHO_ACCESS, ECHO_SERVICE, EchoServiceDefinition } from "./echo-service.js";

async function start(config: ServiceConfig, logger: PinoLogger, closeDelayMs: number) {
  const grpcServer = createGrpcServer({
    logger,
    transport: config.grpcTransport,
    access: ECHO_ACCESS,
    services: [
      {
        name: ECHO_SERVICE,
        definition: EchoServiceDefinition,
        implementation: implement(EchoServiceDefinition, { echo: async ({ text }) => ({ text }) }, { logger }),
      },
    ],
  });
  const port = await grpcServer.bind(config.grpcAddress);
  grpcServer.markServing();
  return {
    port,
    close: async () => {
      // Lets a test deliver a second signal while the service is still closing.
      await sleep(closeDelayMs);
      await grpcServer.shutdown(config.shutdownGraceMs);
      logger.info({}, "closed");
    },
  };
}

if (process.env["FIXTURE_FORM"] === "own-config") {
  const readConfig = (env: Env) => ({
    ...readServiceConfig(env, { defaultGrpcAddress: "127.0.0.1:0" }),
    closeDelayMs: readInteger(env, "FIXTURE_CLOSE_DELAY_MS", 0, { max: 60_000 }),
  });
  await runService("lifecycle-fixture", readConfig, (config, logger) => start(config, logger, config.closeDelayMs));
} else {
  await runService(
    "lifecycle-fixture",
    async (config, logger) => {
      const { port, close } = await start(config, logger, Number(process.env["FIXTURE_CLOSE_DELAY_MS"] ?? 0));
      return { address: withPort(config.grpcAddress, port), close };
    },
    { defaultGrpcAddress: "127.0.0.1:0" },
  );
}
