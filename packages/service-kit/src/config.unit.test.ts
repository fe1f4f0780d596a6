import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, GRPC_LIMIT_DEFAULTS, readInteger, readServiceConfig, withPort, type Env } from "./config.js";

const defaults = { defaultGrpcAddress: "127.0.0.1:50061" };

function configError(env: Env): ConfigError {
  try {
    readServiceConfig(env, defaults);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the config to be refused");
}

describe("readServiceConfig", () => {
  it("uses the defaults for an environment that only chooses plaintext gRPC", () => {
    assert.deepEqual(readServiceConfig({ GRPC_INSECURE: "true" }, defaults), {
      natsUrl: "nats://127.0.0.1:4222",
      natsServers: ["nats://127.0.0.1:4222"],
      natsCredentials: {},
      databaseUrl: "postgres://postgres@127.0.0.1:5432/postgres",
      grpcAddress: "127.0.0.1:50061",
      namespace: "pot",
      networkId: "pot",
      logLevel: "info",
      shutdownGraceMs: 10_000,
      clock: "system",
      streamReplicas: 1,
      consistencyWaitMaxMs: 5_000,
      grpc: GRPC_LIMIT_DEFAULTS,
      grpcTransport: { mode: "insecure" },
      deadLetterAfter: 5,
    });
  });

  it("reads DATABASE_QUERY_URL, the query path's read-only role, and refuses a malformed one without echoing it", () => {
    const url = "postgres://pot_identity_reader:secret@db:5432/pot";
    assert.equal(readServiceConfig({ GRPC_INSECURE: "true", DATABASE_QUERY_URL: url }, defaults).databaseQueryUrl, url);
    assert.equal(readServiceConfig({ GRPC_INSECURE: "true" }, defaults).databaseQueryUrl, undefined);
    assert.throws(
      () => readServiceConfig({ GRPC_INSECURE: "true", DATABASE_QUERY_URL: "mysql://u:secret@db/pot" }, defaults),
      (error: Error) => /DATABASE_QUERY_URL/.test(error.message) && !error.message.includes("secret"),
    );
  });

  it("treats empty variables as unset", () => {
    assert.equal(
      readServiceConfig({ GRPC_ADDRESS: "", LOG_LEVEL: "", GRPC_INSECURE: "true" }, defaults).grpcAddress,
      "127.0.0.1:50061",
    );
  });

  it("reads a full, valid environment", () => {
    const config = readServiceConfig(
      {
        NATS_URL: "nats://n1:4222,nats://user:pw@n2:4222,tls://n3:4222",
        DATABASE_URL: "postgresql://identity:secret@db.internal:5433/pot?sslmode=require",
        GRPC_ADDRESS: "0.0.0.0:0",
        POT_NAMESPACE: "test_42",
        LOG_LEVEL: "debug",
        SHUTDOWN_GRACE_MS: "2500",
        POT_CLOCK: "controlled",
        STREAM_REPLICAS: "3",
        NATS_USER: "pot-identity",
        NATS_PASSWORD: "pw2",
        NATS_CREDS: "",
        CONSISTENCY_WAIT_MAX_MS: "2000",
        GRPC_MAX_RECEIVE_BYTES: "65536",
        GRPC_MAX_CONCURRENT_STREAMS: "32",
        GRPC_KEEPALIVE_MS: "30000",
        GRPC_KEEPALIVE_TIMEOUT_MS: "5000",
        GRPC_MAX_CONNECTION_IDLE_MS: "60000",
        GRPC_MAX_CONNECTION_AGE_MS: "600000",
        GRPC_MAX_CONNECTION_AGE_GRACE_MS: "1000",
        GRPC_INSECURE: "true",
        DEAD_LETTER_AFTER: "3",
      },
      defaults,
    );
    assert.deepEqual(config, {
      natsUrl: "nats://n1:4222,nats://user:pw@n2:4222,tls://n3:4222",
      natsServers: ["nats://n1:4222", "nats://user:pw@n2:4222", "tls://n3:4222"],
      natsCredentials: { user: "pot-identity", password: "pw2" },
      databaseUrl: "postgresql://identity:secret@db.internal:5433/pot?sslmode=require",
      grpcAddress: "0.0.0.0:0",
      namespace: "test_42",
      networkId: "test-42",
      logLevel: "debug",
      shutdownGraceMs: 2500,
      clock: "controlled",
      streamReplicas: 3,
      consistencyWaitMaxMs: 2_000,
      grpc: {
        maxReceiveBytes: 65_536,
        maxConcurrentStreams: 32,
        keepaliveMs: 30_000,
        keepaliveTimeoutMs: 5_000,
        maxConnectionIdleMs: 60_000,
        maxConnectionAgeMs: 600_000,
        maxConnectionAgeGraceMs: 1_000,
      },
      grpcTransport: { mode: "insecure" },
      deadLetterAfter: 3,
    });
  });

  it("reads POT_NETWORK_ID, defaulting to the namespace with '_' as '-'", () => {
    const plain = { GRPC_INSECURE: "true" };
    assert.equal(readServiceConfig({ ...plain, POT_NETWORK_ID: "main-net" }, defaults).networkId, "main-net");
    assert.equal(readServiceConfig({ ...plain, POT_NAMESPACE: "a_b" }, defaults).networkId, "a-b");
  });

  for (const address of ["localhost:50051", "[::1]:50051", "[::]:0", "matchmaker.pot.svc:9000", "10.1.2.3:65535"]) {
    it(`accepts GRPC_ADDRESS ${address}`, () => {
      assert.equal(readServiceConfig({ GRPC_ADDRESS: address, GRPC_INSECURE: "true" }, defaults).grpcAddress, address);
    });
  }

  const refusals: [Env, string][] = [
    [{ GRPC_ADDRESS: "abc" }, 'GRPC_ADDRESS "abc" is not a host:port address'],
    [{ GRPC_ADDRESS: "host:65536" }, 'GRPC_ADDRESS "host:65536" is not a host:port address'],
    [{ GRPC_ADDRESS: ":50051" }, 'GRPC_ADDRESS ":50051" is not a host:port address'],
    [{ GRPC_ADDRESS: "http://h:1" }, 'GRPC_ADDRESS "http://h:1" is not a host:port address'],
    [
      { POT_NAMESPACE: "Pot" },
      'POT_NAMESPACE "Pot" is not a namespace (a lowercase letter followed by at most 31 lowercase letters, digits or underscores)',
    ],
    [
      { POT_NAMESPACE: "a".repeat(33) },
      `POT_NAMESPACE "${"a".repeat(33)}" is not a namespace (a lowercase letter followed by at most 31 lowercase letters, digits or underscores)`,
    ],
    [
      { POT_NETWORK_ID: "Main_Net" },
      `POT_NETWORK_ID "Main_Net" is not a network id (1-64 characters of a-z, 0-9 and '-')`,
    ],
    [{ LOG_LEVEL: "loud" }, 'LOG_LEVEL "loud" is not one of fatal, error, warn, info, debug, trace, silent'],
    [{ SHUTDOWN_GRACE_MS: "soon" }, 'SHUTDOWN_GRACE_MS "soon" is not a whole number between 0 and 600000'],
    [{ SHUTDOWN_GRACE_MS: "-1" }, 'SHUTDOWN_GRACE_MS "-1" is not a whole number between 0 and 600000'],
    [{ SHUTDOWN_GRACE_MS: "1.5" }, 'SHUTDOWN_GRACE_MS "1.5" is not a whole number between 0 and 600000'],
    [{ DEAD_LETTER_AFTER: "0" }, 'DEAD_LETTER_AFTER "0" is not a whole number between 1 and 100'],
    [
      { CONSISTENCY_WAIT_MAX_MS: "600000" },
      'CONSISTENCY_WAIT_MAX_MS "600000" is not a whole number between 0 and 60000',
    ],
    [
      { GRPC_MAX_RECEIVE_BYTES: "100" },
      'GRPC_MAX_RECEIVE_BYTES "100" is not a whole number between 16384 and 67108864',
    ],
    [{ GRPC_MAX_CONCURRENT_STREAMS: "0" }, 'GRPC_MAX_CONCURRENT_STREAMS "0" is not a whole number between 1 and 65535'],
    [
      { DATABASE_URL: "mysql://root:hunter2@db/pot" },
      "DATABASE_URL is not a postgres:// or postgresql:// URL with a host (value not shown: it may hold a password)",
    ],
    [
      { NATS_URL: "nats://ok:4222,http://user:hunter2@bad" },
      "NATS_URL is not a nats:// or tls:// URL with a host, or a comma-separated list of them (value not shown: it may hold a password)",
    ],
  ];

  for (const [env, sentence] of refusals) {
    it(`refuses ${JSON.stringify(env)} with one sentence`, () => {
      const error = configError(env);
      assert.equal(error.message, sentence);
      assert.equal(error.variable, Object.keys(env)[0]);
      assert.ok(!error.message.includes("\n"));
      assert.ok(!error.message.includes("hunter2"), "a password leaked into the message");
    });
  }

  it("refuses to serve gRPC without mutual TLS unless plaintext is chosen explicitly", () => {
    const missing = configError({});
    assert.equal(missing.variable, "GRPC_TLS_CERT");
    assert.match(missing.message, /GRPC_TLS_CERT is not set.*GRPC_INSECURE=true/);
    assert.equal(configError({ GRPC_TLS_CERT: "/c.pem", GRPC_TLS_KEY: "/k.pem" }).variable, "GRPC_TLS_CA");
    const both = configError({ GRPC_INSECURE: "true", GRPC_TLS_CERT: "/c.pem" });
    assert.equal(both.variable, "GRPC_INSECURE");
    assert.equal(configError({ GRPC_INSECURE: "yes" }).variable, "GRPC_INSECURE");
    const unreadable = configError({ GRPC_TLS_CERT: "/nonexistent/c.pem", GRPC_TLS_KEY: "/k", GRPC_TLS_CA: "/ca" });
    assert.equal(unreadable.variable, "GRPC_TLS_CERT");
    assert.match(unreadable.message, /GRPC_TLS_CERT \/nonexistent\/c\.pem cannot be read/);
  });

  it("refuses a bad per-service default like a bad variable", () => {
    assert.throws(() => readServiceConfig({}, { defaultGrpcAddress: "nope" }), ConfigError);
  });
});

describe("config helpers", () => {
  it("readInteger honours its bounds", () => {
    assert.equal(readInteger({ N: "7" }, "N", 1, { min: 1, max: 10 }), 7);
    assert.throws(() => readInteger({ N: "11" }, "N", 1, { min: 1, max: 10 }), {
      message: 'N "11" is not a whole number between 1 and 10',
    });
  });

  it("withPort replaces the port of an address", () => {
    assert.equal(withPort("127.0.0.1:0", 40123), "127.0.0.1:40123");
    assert.equal(withPort("[::1]:0", 40123), "[::1]:40123");
  });
});
