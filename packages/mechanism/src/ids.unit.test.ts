import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { isUuid, uuidV7, uuidV7Time } from "./ids.js";

describe("UUIDv7 proposal ids", () => {
  it("carry their creation time, readable back", () => {
    for (const now of [0, 1, Date.UTC(2026, 11, 3, 10, 30), 2 ** 48 - 1]) {
      const id = uuidV7(now, crypto.getRandomValues(new Uint8Array(10)));
      assert.ok(isUuid(id), id);
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(uuidV7Time(id), now);
    }
  });

  it("sort by creation time", () => {
    const random = new Uint8Array(10).fill(255);
    assert.ok(uuidV7(1_000, random) < uuidV7(1_001, new Uint8Array(10)));
  });

  it("a v4 id, an uppercase one or anything else has no time", () => {
    assert.equal(uuidV7Time(randomUUID()), undefined);
    assert.equal(uuidV7Time(uuidV7(0xabcdef, new Uint8Array(10).fill(255)).toUpperCase()), undefined);
    assert.equal(uuidV7Time("not a uuid"), undefined);
  });
});
