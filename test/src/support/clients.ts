import type * as grpc from "@grpc/grpc-js";
import type { ClientRole, Pki } from "@pot/devenv";
import {
  connect,
  isStatus as hasStatus,
  promisify as promisifyWith,
  type Connections,
  type ServiceAddresses,
  type ServiceClient,
} from "@pot/client";
import { clientCredentials } from "./tls.js";

/** Calls in tests get 5 s unless they say otherwise. */
const TEST_DEADLINE_MS = 5_000;

/** A grpc-js client whose unary methods return promises (the platform client's, with the tests' deadline). */
export function promisify<C extends grpc.Client>(client: C): ServiceClient<C> {
  return promisifyWith(client, TEST_DEADLINE_MS);
}

export type Clients = Connections;

/** Clients over mutual TLS with `pki`'s certificate for `role` (default operator: every RPC). */
export function connectClients(addresses: ServiceAddresses, pki: Pki, role: ClientRole = "operator"): Clients {
  return connect(addresses, { deadlineMs: TEST_DEADLINE_MS, credentials: clientCredentials(pki, role) });
}

/** Retries `probe` until it returns a value (not undefined) or the timeout passes. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${String((last as Error).message ?? last)}` : ""}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export function isStatus(error: unknown, code: grpc.status): boolean {
  return hasStatus(error, code);
}
