import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import {
  AlreadyExistsError,
  ConcurrencyError,
  ExhaustedError,
  IllegalStateError,
  NotFoundError,
  PermissionError,
  ValidationError,
} from "@pot/mechanism";
import { toGrpcStatus } from "./grpc-status.js";

describe("toGrpcStatus", () => {
  const domainCases = [
    [new ValidationError("request.memberId", "must be 32 bytes"), status.INVALID_ARGUMENT],
    [new IllegalStateError("the game is already resolved"), status.FAILED_PRECONDITION],
    [new NotFoundError("no game g-1"), status.NOT_FOUND],
    [new PermissionError("signature does not match the member's key"), status.PERMISSION_DENIED],
    [new ConcurrencyError("game g-1 changed"), status.ABORTED],
    [new AlreadyExistsError("member m-1 exists"), status.ALREADY_EXISTS],
    [new ExhaustedError("member m-1 has 3 pending proposals"), status.RESOURCE_EXHAUSTED],
  ] as const;

  for (const [error, code] of domainCases) {
    it(`maps ${error.code} to ${status[code]} with the error's message`, () => {
      assert.deepEqual(toGrpcStatus(error), { code, details: error.message });
    });
  }

  it("keeps the offending field in the details of a validation error", () => {
    assert.match(toGrpcStatus(new ValidationError("move", "unknown move")).details, /^move: unknown move$/);
  });

  const connectivityCases: [string, unknown][] = [
    ["a refused socket", Object.assign(new Error("connect ECONNREFUSED 10.0.0.7:5432"), { code: "ECONNREFUSED" })],
    ["a DNS failure", Object.assign(new Error("getaddrinfo ENOTFOUND db"), { code: "ENOTFOUND" })],
    [
      "an AggregateError of refused addresses",
      new AggregateError([Object.assign(new Error("connect ECONNREFUSED ::1:4222"), { code: "ECONNREFUSED" })], "x"),
    ],
    ["a closed NATS connection", Object.assign(new Error("closed connection"), { name: "ClosedConnectionError" })],
    ["a NATS connection error", Object.assign(new Error("disconnected"), { name: "ConnectionError" })],
    ["a NATS request timeout", Object.assign(new Error("timeout"), { name: "TimeoutError" })],
    ["no NATS responders", Object.assign(new Error("503"), { name: "NoResponders" })],
    ["Postgres admin shutdown", Object.assign(new Error("terminating connection"), { code: "57P01" })],
    ["a Postgres connection exception", Object.assign(new Error("connection failure"), { code: "08006" })],
    ["a lost pg connection", new Error("Connection terminated unexpectedly")],
    ["an exhausted pg pool", new Error("timeout exceeded when trying to connect")],
    [
      "a connectivity failure wrapped as a cause",
      new Error("append failed", { cause: Object.assign(new Error("reset"), { code: "ECONNRESET" }) }),
    ],
  ];

  for (const [label, error] of connectivityCases) {
    it(`maps ${label} to UNAVAILABLE without leaking the original message`, () => {
      const result = toGrpcStatus(error);
      assert.equal(result.code, status.UNAVAILABLE);
      assert.ok(error instanceof Error && !result.details.includes(error.message), result.details);
    });
  }

  const internalCases: [string, unknown][] = [
    ["a plain Error", new Error("secret: SELECT * FROM members at /srv/app.js:12")],
    ["a TypeError", new TypeError("cannot read properties of undefined")],
    ["a Postgres constraint violation", Object.assign(new Error("duplicate key"), { code: "23505" })],
    ["a thrown string", "boom"],
    ["undefined", undefined],
    ["null", null],
  ];

  for (const [label, error] of internalCases) {
    it(`maps ${label} to INTERNAL with a generic message`, () => {
      const result = toGrpcStatus(error);
      assert.equal(result.code, status.INTERNAL);
      assert.equal(result.details, "internal error");
    });
  }

  it("survives a cause cycle", () => {
    const error = new Error("loop");
    (error as { cause?: unknown }).cause = error;
    assert.equal(toGrpcStatus(error).code, status.INTERNAL);
  });
});
