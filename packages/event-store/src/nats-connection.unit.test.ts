import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { natsInboxPrefix as devenvInboxPrefix, SERVICE_CONSUMERS, natsPermissions } from "@pot/devenv";
import { durableName, streamNames } from "./naming.js";
import { natsConnectOptions, natsCredentialsFromEnv, natsInboxPrefix } from "./nats-connection.js";

test("credentials in the URL are taken out of it and used; explicit ones win", () => {
  assert.deepEqual(natsConnectOptions("nats://a:b%40c@h1:4222,nats://h2:4222"), {
    servers: ["nats://h1:4222", "nats://h2:4222"],
    user: "a",
    pass: "b@c",
  });
  assert.deepEqual(natsConnectOptions("nats://a:b@h1:4222", { user: "x", password: "y" }), {
    servers: ["nats://h1:4222"],
    user: "x",
    pass: "y",
  });
  // An explicit user without a password does not borrow the URL's password.
  assert.deepEqual(natsConnectOptions("nats://a:b@h1:4222", { user: "x" }), { servers: ["nats://h1:4222"], user: "x" });
  assert.deepEqual(natsConnectOptions("nats://127.0.0.1:4222"), { servers: ["nats://127.0.0.1:4222"] });
});

test("a creds file becomes an authenticator; a missing one is a clear error", () => {
  const dir = mkdtempSync(join(tmpdir(), "pot-creds-"));
  try {
    const file = join(dir, "user.creds");
    writeFileSync(file, "-----BEGIN NATS USER JWT-----\nx\n------END NATS USER JWT------\n");
    const options = natsConnectOptions("nats://h:4222", { credsFile: file });
    assert.equal(typeof options.authenticator, "function");
    assert.throws(
      () => natsConnectOptions("nats://h:4222", { credsFile: join(dir, "none.creds") }),
      /cannot read the NATS creds file/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(natsCredentialsFromEnv({ NATS_USER: "u", NATS_PASSWORD: "", NATS_CREDS: undefined }), {
    user: "u",
    password: undefined,
    credsFile: undefined,
  });
});

test("@pot/devenv's permissions name the streams, durables and inboxes the services use", () => {
  assert.equal(devenvInboxPrefix("pot", "identity"), natsInboxPrefix("pot", "identity"));
  for (const [service, consumers] of Object.entries(SERVICE_CONSUMERS) as [
    keyof typeof SERVICE_CONSUMERS,
    (typeof SERVICE_CONSUMERS)["identity"],
  ][]) {
    const allow = natsPermissions("pot", service).publish.allow;
    assert.ok(allow.includes(`${streamNames("pot", service).all}`), service);
    for (const { role, source } of consumers) {
      const durable = durableName("pot", service, role, source);
      assert.ok(
        allow.some(
          (subject) =>
            subject === `$JS.API.CONSUMER.MSG.NEXT.${streamNames("pot", source).stream}.${durable}` ||
            subject === `$JS.API.CONSUMER.MSG.NEXT.${streamNames("pot", source).stream}.*`,
        ),
        `${service} pulls from ${durable}`,
      );
    }
  }
});
