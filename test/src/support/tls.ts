import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import { mutualTls } from "@pot/client";
import { createPki, type ClientRole, type Pki } from "@pot/devenv";

let pki: Promise<Pki> | undefined;

/**
 * The CA of this test run (one per test process): a fresh CA, server and client certificates in a
 * temporary folder removed when the process exits. The services of every suite serve mutual TLS with it.
 */
export function testPki(): Promise<Pki> {
  if (pki === undefined) {
    const dir = mkdtempSync(join(tmpdir(), "pot-tls-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    pki = createPki(dir, { name: "Proof-of-Trust test CA" });
  }
  return pki;
}

/**
 * Channel credentials of a client certificate of `pki`. Tests default to the operator's, which may
 * call every RPC (operator acts, member acts and reads); the denial matrix uses the others.
 */
export function clientCredentials(certificates: Pki, role: ClientRole = "operator"): grpc.ChannelCredentials {
  return mutualTls({ ca: certificates.ca, ...certificates.clients[role] });
}
