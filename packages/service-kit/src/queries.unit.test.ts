import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ValidationError } from "@pot/mechanism";
import { dayRange, decodePageToken, encodePageToken, pageSize } from "./queries.js";

describe("query helpers", () => {
  it("page sizes: a default for 0, a maximum", () => {
    assert.equal(pageSize(0, { fallback: 50, max: 500 }), 50);
    assert.equal(pageSize(500, { fallback: 50, max: 500 }), 500);
    assert.throws(() => pageSize(501, { fallback: 50, max: 500 }), ValidationError);
  });

  it("page tokens carry the cursor and only work with the filters they were issued for", () => {
    const token = encodePageToken([42, "abc"], "active|genesis");
    assert.deepEqual(decodePageToken(token, "active|genesis", ["seq", "id"]), [42, "abc"]);
    assert.equal(decodePageToken("", "anything", ["seq"]), undefined);
    assert.throws(() => decodePageToken(token, "excluded|", ["seq", "id"]), /other filters/);
    assert.throws(() => decodePageToken("not a token", "", ["seq"]), /not a token/);
    assert.throws(() => decodePageToken(Buffer.from('{"v":2}').toString("base64url"), "", ["seq"]), /not a token/);
  });

  it("page tokens with a cursor that is not what the listing issues are INVALID_ARGUMENT, never a bad query", () => {
    const forged = (after: unknown[]) =>
      Buffer.from(JSON.stringify({ v: 1, after, filters: "" })).toString("base64url");
    const bad = [
      forged([1.5]),
      forged([1e300]),
      forged([-1]),
      forged([Number.MAX_SAFE_INTEGER + 2]),
      forged(["12"]),
      forged([null]),
      forged([]),
      forged([1, 2]),
      forged([{ $gt: 1 }]),
      Buffer.from("null").toString("base64url"),
      Buffer.from('{"v":1,"after":"x","filters":""}').toString("base64url"),
      "A".repeat(200_000),
      "abc def",
    ];
    for (const token of bad) {
      assert.throws(
        () => decodePageToken(token, "", ["seq"]),
        (error: Error) => error instanceof ValidationError && error.message.length < 100,
        token.slice(0, 40),
      );
    }
    assert.throws(() => decodePageToken(forged(["x".repeat(129)]), "", ["id"]), ValidationError);
    assert.throws(() => decodePageToken(forged(["a\u0000b"]), "", ["id"]), ValidationError);
    assert.deepEqual(decodePageToken(forged([0]), "", ["seq"]), [0]);
    assert.deepEqual(decodePageToken(forged(["ab".repeat(32)]), "", ["id"]), ["ab".repeat(32)]);
  });

  it("day strings are checked for length before parsing, and never echoed in full", () => {
    const huge = `2030-01-01${"x".repeat(200_000)}`;
    assert.throws(
      () => dayRange({ fromDay: huge, toDay: "" }, Date.UTC(2030, 0, 31)),
      (error: Error) =>
        /from_day/.test(error.message) && error.message.length < 200 && /200010 bytes/.test(error.message),
    );
  });

  it("day ranges default to the last 30 days and are bounded", () => {
    const now = Date.UTC(2030, 0, 31, 15);
    assert.deepEqual(dayRange({ fromDay: "", toDay: "" }, now), { from: "2030-01-02", to: "2030-01-31" });
    assert.deepEqual(dayRange({ fromDay: "2029-12-31", toDay: "2030-01-01" }, now), {
      from: "2029-12-31",
      to: "2030-01-01",
    });
    assert.throws(() => dayRange({ fromDay: "2030-02-30", toDay: "" }, now), /from_day/);
    assert.throws(() => dayRange({ fromDay: "2030-01-02", toDay: "2030-01-01" }, now), /after to_day/);
    assert.throws(() => dayRange({ fromDay: "2028-01-01", toDay: "2030-01-01" }, now), /366 days/);
  });
});
