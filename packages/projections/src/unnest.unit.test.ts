import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { arrayLiteral, safeText, utcDay } from "./unnest.js";

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

  it("store a safe form of text Postgres refuses: NUL and unpaired surrogates become U+FFFD", () => {
    assert.equal(safeText("plain ünïcode 😀"), "plain ünïcode 😀");
    assert.equal(safeText("a\u0000b\u0000"), "a\uFFFDb\uFFFD");
    assert.equal(safeText("x\uD800y\uDC00z"), "x\uFFFDy\uFFFDz");
    assert.equal(safeText("\uD83D\uDE00\uD83D"), "😀\uFFFD");
    assert.equal(arrayLiteral([{ text: "bad\u0000name" }], "text"), '{"bad\uFFFDname"}');
  });

  it("name the UTC day of an instant", () => {
    assert.equal(utcDay(Date.UTC(2031, 11, 31, 23, 59, 59, 999)), "2031-12-31");
    assert.equal(utcDay(Date.UTC(2032, 0, 1)), "2032-01-01");
  });
});
