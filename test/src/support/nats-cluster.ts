import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { freePort, repoRoot, waitForPort } from "@pot/devenv";

/** The node configuration production uses too (compose adds infra/nats/production.conf on top). */
export const CLUSTER_NODE_CONF = join("infra", "nats", "cluster-node.conf");

export interface NatsNode {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** The last lines the node wrote. */
  logs(): string;
  /** Kills the node (SIGKILL: no goodbye to the cluster) and waits for it to exit. */
  kill(): Promise<void>;
}

export interface NatsCluster {
  readonly nodes: readonly NatsNode[];
  /** Every node's URL, comma-separated, as NATS_URL takes them. */
  readonly natsUrl: string;
  /** Stops the nodes still running and removes their store directories. */
  stop(): Promise<void>;
}

/** nats-server from PATH, else /usr/sbin (Debian's package puts it there). */
export function natsServerPath(): string {
  for (const dir of [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/bin"]) {
    const candidate = join(dir, "nats-server");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error("nats-server is not installed (Debian: apt-get install nats-server)");
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/**
 * Starts a cluster of `size` nats-server nodes from infra/nats/cluster-node.conf on free loopback
 * ports, each with a store directory of its own under the system's temporary directory, and
 * resolves once JetStream has a meta leader (streams can be created).
 */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const binary = natsServerPath();
  const conf = join(repoRoot(), CLUSTER_NODE_CONF);
  const root = mkdtempSync(join(tmpdir(), "pot-nats-cluster-"));
  const ports = [];
  for (let i = 0; i < size; i++)
    ports.push({ client: await freePort(), cluster: await freePort(), http: await freePort() });
  const routes = Object.fromEntries(ports.map((p, i) => [`NATS_ROUTE_${i + 1}`, `nats://127.0.0.1:${p.cluster}`]));
  const nodes: NatsNode[] = ports.map((port, i) => {
    const name = `nats-${i + 1}`;
    const child = spawn(binary, ["-c", conf], {
      env: {
        ...process.env,
        NATS_SERVER_NAME: name,
        NATS_HOST: "127.0.0.1",
        NATS_CLIENT_PORT: String(port.client),
        NATS_CLUSTER_PORT: String(port.cluster),
        NATS_HTTP_PORT: String(port.http),
        NATS_STORE_DIR: join(root, name),
        ...routes,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let tail = "";
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-16_384);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    return {
      name,
      url: `nats://127.0.0.1:${port.client}`,
      child,
      logs: () => tail,
      async kill() {
        child.kill("SIGKILL");
        await exited(child);
      },
    };
  });
  const stop = async () => {
    await Promise.all(
      nodes.map(async (node) => {
        if (node.child.exitCode !== null || node.child.signalCode !== null) return;
        node.child.kill("SIGTERM");
        const timer = setTimeout(() => node.child.kill("SIGKILL"), 10_000);
        await exited(node.child);
        clearTimeout(timer);
      }),
    );
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await Promise.all(ports.map((port) => waitForPort("127.0.0.1", port.client, 15_000)));
    await waitForJetStream(nodes.map((node) => node.url));
  } catch (error) {
    const logs = nodes.map((node) => `--- ${node.name}\n${node.logs()}`).join("\n");
    await stop();
    throw new Error(`the NATS cluster did not come up: ${(error as Error).message}\n${logs}`, { cause: error });
  }
  return { nodes, natsUrl: nodes.map((node) => node.url).join(","), stop };
}

/** Until the JetStream API answers (a meta leader is elected), at most 30 s. */
async function waitForJetStream(servers: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  const nc = await connect({ servers, maxReconnectAttempts: -1 });
  try {
    for (;;) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: 2_000 });
        await jsm.getAccountInfo();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(200);
      }
    }
  } finally {
    await nc.close();
  }
}
