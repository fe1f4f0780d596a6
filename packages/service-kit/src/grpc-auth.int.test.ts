import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { createPki, issueCertificate, serviceTlsEnv, type KeyPairFiles, type Pki } from "@pot/devenv";
import { readGrpcTransport, type ConfigError } from "./config.js";
import { createGrpcServer, type GrpcServer } from "./grpc-server.js";
import type { Logger } from "./logger.js";
import { implement } from "./unary.js";
import { checkHealth, reflect } from "./test-fixtures/clients.js";
import {
  callEcho,
  createEchoClient,
  ECHO_ACCESS,
  ECHO_SERVICE,
  EchoServiceDefinition,
} from "./test-fixtures/echo-service.js";

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function credentials(pki: Pki, pair?: KeyPairFiles): grpc.ChannelCredentials {
  const ca = readFileSync(pki.ca);
  return pair === undefined
    ? grpc.credentials.createSsl(ca)
    : grpc.credentials.createSsl(ca, readFileSync(pair.key), readFileSync(pair.cert));
}

/**
 * The kit's mutual TLS and authorization interceptor over real sockets: a client certificate from
 * the CA with the right role passes; no certificate, another CA's, an expired one or a server
 * certificate is UNAUTHENTICATED; a valid certificate without the role is PERMISSION_DENIED; the
 * handler never runs for a refused call.
 */
describe("mutual TLS and the authorization interceptor", () => {
  const dir = mkdtempSync(join(tmpdir(), "pot-kit-tls-"));
  let pki: Pki;
  let other: Pki;
  let kit: GrpcServer;
  let address: string;
  let handled = 0;
  const extra: Record<string, KeyPairFiles> = {};

  before(async () => {
    pki = await createPki(join(dir, "ca"));
    other = await createPki(join(dir, "other"), { name: "another CA" });
    const issue = async (name: string, options: Parameters<typeof issueCertificate>[2]) => {
      extra[name] = await issueCertificate(
        pki,
        { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) },
        options,
      );
    };
    await issue("norole", { name: "no-role", usage: "client" });
    await issue("unknown", { name: "unknown-role", usage: "client", roles: ["admin", "Operator"] });
    await issue("expired", { name: "expired", usage: "client", roles: ["operator"], days: 1, backdateDays: 3 });
    await issue("server", { name: "a-server", usage: "server", roles: ["operator"] });
    kit = createGrpcServer({
      logger: silent,
      transport: readGrpcTransport(serviceTlsEnv(pki)),
      access: ECHO_ACCESS,
      services: [
        {
          name: ECHO_SERVICE,
          definition: EchoServiceDefinition,
          implementation: implement(
            EchoServiceDefinition,
            {
              echo: async ({ text }) => {
                handled += 1;
                return { text };
              },
            },
            { logger: silent },
          ),
        },
      ],
    });
    address = `127.0.0.1:${await kit.bind("127.0.0.1:0")}`;
    kit.markServing();
  });

  after(async () => {
    await kit?.shutdown(1_000);
    rmSync(dir, { recursive: true, force: true });
  });

  async function echo(creds: grpc.ChannelCredentials): Promise<string> {
    const client = createEchoClient(address, creds);
    try {
      const { response, error } = await callEcho(client, { text: "hi" }, { deadline: Date.now() + 5_000 });
      if (error) return grpc.status[error.code]!;
      assert.equal(response?.text, "hi");
      return "OK";
    } finally {
      client.close();
    }
  }

  test("Echo (platform role) by caller: the status, and the handler runs only for allowed callers", async () => {
    const cases: [string, () => grpc.ChannelCredentials, string][] = [
      ["no client certificate", () => credentials(pki), "UNAUTHENTICATED"],
      ["another CA's operator certificate", () => credentials(pki, other.clients.operator), "UNAUTHENTICATED"],
      ["an expired operator certificate", () => credentials(pki, extra.expired), "UNAUTHENTICATED"],
      ["a server certificate carrying the operator role", () => credentials(pki, extra.server), "UNAUTHENTICATED"],
      ["a certificate without a role", () => credentials(pki, extra.norole), "PERMISSION_DENIED"],
      ["unknown roles (admin, Operator)", () => credentials(pki, extra.unknown), "PERMISSION_DENIED"],
      ["read-only", () => credentials(pki, pki.clients.readonly), "PERMISSION_DENIED"],
      ["platform", () => credentials(pki, pki.clients.platform), "OK"],
      ["operator", () => credentials(pki, pki.clients.operator), "OK"],
    ];
    for (const [caller, creds, expected] of cases) {
      const before = handled;
      assert.equal(await echo(creds()), expected, caller);
      assert.equal(handled - before, expected === "OK" ? 1 : 0, `${caller}: handler calls`);
    }
  });

  test("the server's certificate, key and CA are checked at start-up, naming the variable", () => {
    const env = serviceTlsEnv(pki);
    const refused = (changes: Record<string, string>, variable: string, pattern: RegExp) =>
      assert.throws(
        () => readGrpcTransport({ ...env, ...changes }),
        (error: ConfigError) => error.variable === variable && pattern.test(error.message),
      );
    refused({ GRPC_TLS_KEY: other.server.key }, "GRPC_TLS_KEY", /is not the private key of the certificate/);
    refused({ GRPC_TLS_CERT: pki.server.key }, "GRPC_TLS_CERT", /is not a PEM certificate/);
    refused({ GRPC_TLS_CA: join(dir, "missing.crt") }, "GRPC_TLS_CA", /cannot be read/);
    refused({ GRPC_TLS_CERT: extra.expired!.cert, GRPC_TLS_KEY: extra.expired!.key }, "GRPC_TLS_CERT", /expired on/);
  });

  test("a plaintext client cannot even connect", async () => {
    assert.equal(await echo(grpc.credentials.createInsecure()), "UNAVAILABLE");
  });

  test("health answers without a client certificate; reflection needs a role", async () => {
    assert.equal(await checkHealth(address, "", credentials(pki)), "SERVING");
    await assert.rejects(reflect(address, { list_services: "" }, credentials(pki)), (error: grpc.ServiceError) => {
      assert.equal(error.code, grpc.status.UNAUTHENTICATED);
      return true;
    });
    const listed = await reflect(address, { list_services: "" }, credentials(pki, pki.clients.readonly));
    assert.ok(listed.list_services_response?.service.some((service) => service.name === "grpc.health.v1.Health"));
  });

  test("a server refuses to start with a method that has no role", () => {
    assert.throws(
      () =>
        createGrpcServer({
          logger: silent,
          transport: { mode: "insecure" },
          services: [{ name: ECHO_SERVICE, definition: EchoServiceDefinition, implementation: {} }],
        }),
      /no role is given for \/pot\.test\.EchoService\/Echo/,
    );
  });

  test("plaintext is logged as a warning at bind", async () => {
    const lines: { level: string; message: string }[] = [];
    const record = (level: string) => (_: object, message: string) => lines.push({ level, message });
    const logger: Logger = {
      debug: record("debug"),
      info: record("info"),
      warn: record("warn"),
      error: record("error"),
    };
    const plain = createGrpcServer({
      logger,
      transport: { mode: "insecure" },
      access: ECHO_ACCESS,
      services: [{ name: ECHO_SERVICE, definition: EchoServiceDefinition, implementation: {} }],
    });
    await plain.bind("127.0.0.1:0");
    await plain.shutdown(100);
    assert.ok(lines.some((line) => line.level === "warn" && /PLAINTEXT and UNAUTHENTICATED/.test(line.message)));
  });
});
