import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { arrayLiteral, utcDay } from "./unnest.js";

describe("unnest helpers", () => {
  it("write a column as a Postgres array literal: quoted text, hex bytes, NULLs", () => {
    const rows = [
      { text: 'a"b\\c,{d}', number: 12, flag: true, bytes: new Uint8Array([0, 255]) },
      { text: "NULL", number: -2.5, flag: false, bytes: Buffer.from("ab", "hex") },
      { text: "", number: null, flag: undefined, bytes: null },
    ];
    assert.equal(arrayLiteral(rows, "text"), '{"a\\"b\\\\c,{d}","NULL",""}');
    assert.equal(arrayLiteral(rows, "number"), "{12,-2.5,NULL}");
    assert.equal(arrayLiteral(rows, "flag"), "{t,f,NULL}");
    assert.equal(arrayLiteral(rows, "bytes"), '{"\\\\x00ff","\\\\xab",NULL}');
    assert.equal(arrayLiteral([], "text"), "{}");
  });

  it("name the UTC day of an instant", () => {
    assert.equal(utcDay(Date.UTC(2031, 11, 31, 23, 59, 59, 999)), "2031-12-31");
    assert.equal(utcDay(Date.UTC(2032, 0, 1)), "2032-01-01");
  });
});
