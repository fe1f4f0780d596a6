import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import { ValidationError } from "@pot/mechanism";
import { toGrpcStatus } from "./grpc-status.js";
import { checkRequestLimits, parseRequestLimits, requestLimits } from "./request-bounds.js";

const refusal = (check: () => void): string => {
  try {
    check();
  } catch (error) {
    assert.ok(error instanceof ValidationError, String(error));
    assert.equal(toGrpcStatus(error).code, status.INVALID_ARGUMENT);
    return error.message;
  }
  assert.fail("accepted");
};

describe("the request limits table", () => {
  const limits = requestLimits();

  it("loads from the contracts and gives every request field of the API a limit", () => {
    assert.ok(limits.messages.size >= 20);
    assert.equal(limits.messages.get("BootstrapRequest")?.get("members[].display_name")?.text, true);
    assert.equal(limits.messages.get("ProposeRequest")?.get("action.generic.payload")?.max, 4096);
  });

  it("accepts requests within their limits", () => {
    checkRequestLimits("GetStakeRequest", {
      memberId: "a".repeat(64),
      minSequence: 0n,
      consistencyToken: "matchmaker:1",
    });
    checkRequestLimits("BootstrapRequest", {
      requestId: "r",
      members: [{ publicKey: new Uint8Array(32), displayName: "Ada Lovelace, ünïcode 😀" }],
      agreement: { version: 0, hash: new Uint8Array(32), uri: "https://example.org/a" },
      force: false,
    });
  });

  it("refuses an oversized string naming the field, without echoing it", () => {
    const message = refusal(() =>
      checkRequestLimits("GetStakeRequest", { memberId: "a".repeat(64), consistencyToken: "x".repeat(200_000) }),
    );
    assert.equal(message, "consistency_token: is 200000 bytes long, at most 256");
  });

  it("measures strings in UTF-8 bytes", () => {
    const message = refusal(() =>
      checkRequestLimits("GetNetworkStatsRequest", { fromDay: "é".repeat(6), toDay: "", consistencyToken: "" }),
    );
    assert.match(message, /^from_day: is 12 bytes long, at most 10$/);
  });

  it("refuses oversized bytes inside a oneof, named by the member that is set", () => {
    const message = refusal(() =>
      checkRequestLimits("ProposeRequest", {
        proposalId: "",
        action: { action: { $case: "generic", value: { kind: "k", payload: new Uint8Array(4097) } } },
        signature: new Uint8Array(64),
      }),
    );
    assert.equal(message, "action.generic.payload: is 4097 bytes, at most 4096");
    assert.match(
      refusal(() =>
        checkRequestLimits("ProposeRequest", {
          action: {
            action: { $case: "admission", value: { consent: { candidatePublicKey: new Uint8Array(33) } } },
          },
        }),
      ),
      /^action\.admission\.consent\.candidate_public_key: is 33 bytes, at most 32$/,
    );
  });

  it("refuses too many elements, and oversized elements of a repeated field", () => {
    const member = { publicKey: new Uint8Array(32), displayName: "m" };
    assert.match(
      refusal(() => checkRequestLimits("BootstrapRequest", { members: Array.from({ length: 1001 }, () => member) })),
      /^members: has 1001 elements, at most 1000$/,
    );
    assert.match(
      refusal(() =>
        checkRequestLimits("BootstrapRequest", { members: [member, { ...member, displayName: "x".repeat(513) }] }),
      ),
      /^members\[\]\.display_name: is 513 bytes long, at most 512$/,
    );
  });

  it("refuses control characters in free text (names, reasons, URIs), not in other fields", () => {
    for (const [message, request, field] of [
      ["BootstrapRequest", { members: [{ displayName: "Ada\u0000" }] }, "members[].display_name"],
      ["ExcludeRequest", { reason: "line\nbreak" }, "reason"],
      ["PublishAgreementRequest", { uri: "https://x/\u009b" }, "uri"],
      ["BootstrapRequest", { agreement: { uri: "https://x/\u007f" } }, "agreement.uri"],
    ] as const) {
      assert.match(
        refusal(() => checkRequestLimits(message, request)),
        new RegExp(`^${field.replace(/[.[\]]/g, "\\$&")}: must not contain control characters`),
      );
    }
  });

  it("gives fields the table does not list the defaults", () => {
    checkRequestLimits("SomeFutureRequest", { note: "x".repeat(limits.defaults.string) });
    assert.match(
      refusal(() => checkRequestLimits("SomeFutureRequest", { note: "x".repeat(limits.defaults.string + 1) })),
      /^note: /,
    );
    assert.match(
      refusal(() => checkRequestLimits("SomeFutureRequest", { blob: new Uint8Array(limits.defaults.bytes + 1) })),
      /^blob: /,
    );
    assert.match(
      refusal(() => checkRequestLimits("SomeFutureRequest", { list: new Array(limits.defaults.items + 1).fill(1) })),
      /^list: /,
    );
  });

  it("refuses a malformed table at load time", () => {
    assert.throws(() => parseRequestLimits({}), /defaults/);
    assert.throws(
      () => parseRequestLimits({ defaults: { string: 1, bytes: 1, items: 1 }, messages: { A: { b: 0 } } }),
      /A\.b/,
    );
  });
});
