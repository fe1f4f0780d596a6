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
    assert.deepEqual(decodePageToken(token, "active|genesis"), [42, "abc"]);
    assert.equal(decodePageToken("", "anything"), undefined);
    assert.throws(() => decodePageToken(token, "excluded|"), /other filters/);
    assert.throws(() => decodePageToken("not a token", ""), /not a token/);
    assert.throws(() => decodePageToken(Buffer.from('{"v":2}').toString("base64url"), ""), /not a token/);
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
