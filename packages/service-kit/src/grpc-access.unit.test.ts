import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as protoLoader from "@grpc/proto-loader";
import { authorize, METHOD_ACCESS, permits, rolesOf, type Caller } from "./grpc-access.js";
import { contractsProtoFiles, contractsProtoRoot } from "./proto-files.js";

/** Every method of every service in the contracts' pot/v1 protos, as gRPC paths. */
function protoMethodPaths(): string[] {
  const root = contractsProtoRoot();
  const definition = protoLoader.loadSync(contractsProtoFiles(root), { includeDirs: [root] });
  return Object.values(definition).flatMap((entry) =>
    "format" in entry || "valuesById" in entry || "type" in entry
      ? []
      : Object.values(entry as protoLoader.ServiceDefinition).map((method) => method.path),
  );
}

describe("METHOD_ACCESS", () => {
  test("names a role for every RPC in the protos, and nothing that is not in them", () => {
    const paths = protoMethodPaths();
    assert.ok(paths.length >= 23, `expected the pot.v1 RPCs, found ${paths.length}`);
    const missing = paths.filter((path) => !Object.hasOwn(METHOD_ACCESS, path));
    assert.deepEqual(missing, [], "RPCs without a role: add them to METHOD_ACCESS in grpc-access.ts");
    const stale = Object.keys(METHOD_ACCESS).filter((path) => path.startsWith("/pot.") && !paths.includes(path));
    assert.deepEqual(stale, [], "METHOD_ACCESS names RPCs the protos no longer have");
  });

  test("operator acts need the operator role; member acts the platform role; queries any role", () => {
    const operatorActs = Object.entries(METHOD_ACCESS)
      .filter(([, access]) => access === "operator")
      .map(([path]) => path.split("/").pop())
      .sort();
    assert.deepEqual(operatorActs, ["Bootstrap", "Exclude", "PublishAgreement", "PublishPolicy", "RotateOperatorKeys"]);
    for (const [path, access] of Object.entries(METHOD_ACCESS)) {
      const name = path.split("/").pop()!;
      if (path.startsWith("/pot.") && /^(Get|List)/.test(name)) assert.equal(access, "readonly", path);
    }
    const publicPaths = Object.entries(METHOD_ACCESS).filter(([, access]) => access === "public");
    assert.ok(
      publicPaths.every(([path]) => path.startsWith("/grpc.health.v1.Health/")),
      "only health is public",
    );
  });
});

describe("rolesOf", () => {
  test("reads exact pot-role URIs from the subjectAltName and nothing else", () => {
    assert.deepEqual(rolesOf("DNS:localhost, URI:pot-role:operator"), ["operator"]);
    assert.deepEqual(rolesOf("URI:pot-role:readonly, URI:pot-role:platform"), ["readonly", "platform"]);
    assert.deepEqual(rolesOf(undefined), []);
    for (const forged of [
      "URI:pot-role:admin",
      "URI:pot-role:Operator",
      "URI:pot-role:operator2",
      'URI:"pot-role:operator, DNS:x"',
      "DNS:pot-role:operator",
      "URI:xpot-role:operator",
      "email:URI:pot-role:operator",
      "URI:pot-role:operator ",
    ]) {
      assert.deepEqual(rolesOf(forged), [], forged);
    }
  });
});

describe("authorize", () => {
  const certificate = (...roles: ("operator" | "platform" | "readonly")[]): Caller => ({
    kind: "certificate",
    subject: "CN=t",
    roles,
    clientAuth: true,
  });

  test("roles are ordered readonly < platform < operator", () => {
    assert.ok(permits("operator", ["operator"]));
    assert.ok(!permits("operator", ["platform", "readonly"]));
    assert.ok(permits("platform", ["operator"]));
    assert.ok(!permits("platform", ["readonly"]));
    assert.ok(permits("readonly", ["readonly"]));
    assert.ok(!permits("readonly", []));
    assert.ok(permits("public", []));
  });

  test("refuses by kind of caller with the right status", () => {
    const bootstrap = "/pot.v1.IdentityService/Bootstrap";
    assert.deepEqual(authorize(bootstrap, certificate("operator")), { allowed: true });
    assert.equal(authorize(bootstrap, { kind: "insecure" }).allowed, true);
    const anonymous = authorize(bootstrap, { kind: "anonymous" });
    assert.equal(anonymous.allowed || anonymous.code, "UNAUTHENTICATED");
    const platform = authorize(bootstrap, certificate("platform"));
    assert.equal(platform.allowed || platform.code, "PERMISSION_DENIED");
    assert.match(platform.allowed ? "" : platform.details, /needs the operator role.*has only platform/);
    const notClient = authorize(bootstrap, { ...certificate("operator"), clientAuth: false } as Caller);
    assert.equal(notClient.allowed || notClient.code, "UNAUTHENTICATED");
    const health = authorize("/grpc.health.v1.Health/Check", { kind: "anonymous" });
    assert.equal(health.allowed, true);
  });

  test("a method absent from the table is refused to everyone, even without TLS", () => {
    for (const caller of [certificate("operator"), { kind: "insecure" } as const]) {
      const verdict = authorize("/pot.v1.IdentityService/Unknown", caller);
      assert.equal(verdict.allowed || verdict.code, "PERMISSION_DENIED");
    }
    const proto = authorize("/pot.v1.IdentityService/__proto__", certificate("operator"));
    assert.equal(proto.allowed, false);
  });
});
