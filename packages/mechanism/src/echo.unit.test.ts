import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { controlCharacterAt, echo, utf8Length } from "./echo.js";
import { requireMemberId, requireUuid } from "./ids.js";

describe("echoes of a caller's input", () => {
  it("quote short values as they are", () => {
    assert.equal(echo("abc"), "abc");
  });

  it("cut long values to 64 characters and say how many bytes they were", () => {
    const shown = echo("é".repeat(1000));
    assert.equal(shown, `${"é".repeat(64)}…(2000 bytes)`);
  });

  it("escape control characters", () => {
    assert.equal(echo("a\u0000b\nc\u009b"), "a\\u0000b\\u000ac\\u009b");
  });

  it("id validators never quote more than the cut", () => {
    for (const check of [
      () => requireUuid("proposal_id", "x".repeat(200_000)),
      () => requireMemberId("member_id", "y".repeat(200_000)),
    ]) {
      assert.throws(check, (error: Error) => error.message.length < 200 && /200000 bytes/.test(error.message));
    }
  });
});

describe("text helpers", () => {
  it("count UTF-8 bytes like Buffer does", () => {
    for (const value of ["", "abc", "é", "€", "😀", "a😀b", "\ud800x"]) {
      assert.equal(utf8Length(value), Buffer.byteLength(value, "utf8"), JSON.stringify(value));
    }
  });

  it("find control characters: C0, DEL and C1, not ordinary text", () => {
    assert.equal(controlCharacterAt("ordinary text, ünïcode 😀"), -1);
    assert.equal(controlCharacterAt("ab\u0000"), 2);
    assert.equal(controlCharacterAt("\u007f"), 0);
    assert.equal(controlCharacterAt("x\u0085"), 1);
    assert.equal(controlCharacterAt("tab\there"), 3);
  });
});
