import { messageOf, probeNats, probePostgres } from "./probes.js";
import { Unavailable, type ServerHandle } from "./local-servers.js";

type Testcontainers = typeof import("testcontainers");

let runtime: Promise<Testcontainers> | undefined;

/** testcontainers, once a Docker (or compatible) engine has answered; loaded only when needed (it is slow to import). */
function dockerEngine(): Promise<Testcontainers> {
  runtime ??= (async () => {
    const testcontainers = await import("testcontainers");
    try {
      await testcontainers.getContainerRuntimeClient();
    } catch (error) {
      throw new Unavailable(`no Docker engine answers (${messageOf(error)})`, { cause: error });
    }
    return testcontainers;
  })();
  return runtime;
}

export async function startNatsContainer(log: (line: string) => void): Promise<ServerHandle> {
  const { GenericContainer, Wait } = await dockerEngine();
  const container = await new GenericContainer("nats:2.9-alpine")
    .withCommand(["-js"])
    .withExposedPorts(4222)
    .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
    .start();
  const url = `nats://${container.getHost()}:${container.getMappedPort(4222)}`;
  await probeNats(url, 10_000);
  log(`started a nats:2.9-alpine container at ${url}`);
  return { url, started: "nats (testcontainers)", stop: async () => void (await container.stop()) };
}

export async function startPostgresContainer(log: (line: string) => void): Promise<ServerHandle> {
  const { GenericContainer, Wait } = await dockerEngine();
  const container = await new GenericContainer("postgres:15-alpine")
    .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: "trust" })
    .withExposedPorts(5432)
    // The entrypoint starts the server twice (once to initialise); the second "ready" is the real one.
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  const url = `postgres://postgres@${container.getHost()}:${container.getMappedPort(5432)}/postgres`;
  await probePostgres(url, 10_000);
  log(`started a postgres:15-alpine container at ${url}`);
  return { url, started: "postgres (testcontainers)", stop: async () => void (await container.stop()) };
}
