// Spawned by run-service.int.test.ts: a minimal main.ts built on runService.
import { setTimeout as sleep } from "node:timers/promises";
import { createGrpcServer, implement, runService, withPort } from "../index.js";
import { ECHO_SERVICE, EchoServiceDefinition } from "./echo-service.js";

await runService(
  "lifecycle-fixture",
  async (config, logger) => {
    const grpcServer = createGrpcServer({
      logger,
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
      address: withPort(config.grpcAddress, port),
      close: async () => {
        // Lets a test deliver a second signal while the service is still closing.
        await sleep(Number(process.env["FIXTURE_CLOSE_DELAY_MS"] ?? 0));
        await grpcServer.shutdown(config.shutdownGraceMs);
        logger.info({}, "closed");
      },
    };
  },
  { defaultGrpcAddress: "127.0.0.1:0" },
);
