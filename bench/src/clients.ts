import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { connect, isStatus, mutualTls, type Connections, type ServiceAddresses } from "@pot/client";
import { createPki, type Pki } from "@pot/devenv";

const DEADLINE_MS = 10_000;

/** The platform client's promise-returning channels to the three services. */
export type Clients = Connections;

let pki: Promise<Pki> | undefined;

/** The bench run's own CA (a temporary folder removed at exit): the services serve mutual TLS with it. */
export function benchPki(): Promise<Pki> {
  if (pki === undefined) {
    const dir = mkdtempSync(join(tmpdir(), "pot-bench-tls-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    pki = createPki(dir, { name: "Proof-of-Trust bench CA" });
  }
  return pki;
}

/** The operator's client certificate: the bench bootstraps, publishes policies and plays. */
export function benchCredentials(certificates: Pki): grpc.ChannelCredentials {
  return mutualTls({ ca: certificates.ca, ...certificates.clients.operator });
}

export function connectClients(addresses: ServiceAddresses, credentials: grpc.ChannelCredentials): Clients {
  return connect(addresses, { deadlineMs: DEADLINE_MS, credentials });
}

export { isStatus };

/**
 * grpc.health.v1.Health/Check with an empty request (the server's overall status): the cheapest
 * unary call a service answers, over the same grpc-js stack as its own methods. The request is the
 * empty message and the reply is decoded only as far as its status, so the client does the least.
 */
export function healthChecker(
  address: string,
  credentials: grpc.ChannelCredentials,
): { check(): Promise<void>; close(): void } {
  const client = new grpc.Client(address, credentials, { "grpc.enable_retries": 0 });
  const empty = Buffer.alloc(0);
  return {
    check: () =>
      new Promise<void>((resolve, reject) => {
        client.makeUnaryRequest(
          "/grpc.health.v1.Health/Check",
          () => empty,
          (bytes: Buffer) => bytes,
          {},
          new grpc.Metadata(),
          { deadline: Date.now() + DEADLINE_MS },
          (error, reply) => {
            // HealthCheckResponse { status = 1 }: SERVING is 1, encoded as 0x08 0x01.
            if (error) reject(error);
            else if (reply?.[0] !== 0x08 || reply[1] !== 0x01) reject(new Error("health check: not SERVING"));
            else resolve();
          },
        );
      }),
    close: () => client.close(),
  };
}

export function statusOf(error: unknown): string {
  const code = (error as grpc.ServiceError | undefined)?.code;
  return code === undefined ? "ERROR" : (grpc.status[code] ?? String(code));
}
