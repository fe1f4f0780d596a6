import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { natsPermissions, repoRoot } from "@pot/devenv";
import { ValidationError } from "@pot/mechanism";
import {
  DEAD_LETTER_HEADERS,
  DEAD_LETTER_REASON_KINDS,
  DEAD_LETTER_RETRIED_SEQ_HEADER,
  DEAD_LETTER_RETRY_HEADER,
  DeadLetterError,
  deadLetterNames,
  immediateKindOf,
  reasonOf,
  reasonText,
} from "./dead-letters.js";
import { streamNames } from "./naming.js";

describe("dead-letter names and reasons", () => {
  it("name a service's dead-letter stream apart from every event stream", () => {
    const names = deadLetterNames("pot", "identity");
    assert.equal(names.stream, "POT_DEAD_IDENTITY");
    assert.equal(names.all, "pot.dead.identity.>");
    assert.equal(names.letters, "pot.dead.identity.letter");
    assert.equal(names.retried, "pot.dead.identity.retried");
    for (const service of ["identity", "matchmaker", "adjudicator"] as const) {
      assert.ok(!names.all.startsWith(`${streamNames("pot", service).prefix}.`), "no overlap with an event stream");
    }
    assert.throws(() => deadLetterNames("Bad-NS", "identity"), /namespace/);
  });

  it("are the ones the NATS permissions grant (packages/devenv nats-auth.ts)", () => {
    for (const service of ["identity", "matchmaker", "adjudicator"] as const) {
      const names = deadLetterNames("pot", service);
      const own = natsPermissions("pot", service).publish.allow;
      assert.ok(own.includes(names.all), `${service} publishes its dead letters`);
      assert.ok(own.includes(`$JS.API.STREAM.CREATE.${names.stream}`), `${service} creates its dead-letter stream`);
      const reader = natsPermissions("pot", "reader").publish.allow;
      assert.ok(reader.includes(`$JS.API.STREAM.INFO.${names.stream}`), `the reader reads ${names.stream}`);
      assert.ok(!reader.includes(names.all), "the reader writes no dead letter");
    }
  });

  it("keep a reason on one header line, cut at 500 characters", () => {
    assert.equal(reasonText("first\r\nsecond\u0000third"), "first second third");
    const long = reasonText("é".repeat(2_000));
    assert.equal([...long].length, 500);
    assert.ok(long.endsWith("…"));
    assert.equal(reasonText("short"), "short");
  });

  it("tell the errors that condemn an event at once from those worth retrying", () => {
    assert.equal(immediateKindOf(new ValidationError("sponsor_a", "is missing")), "invalid");
    assert.equal(immediateKindOf(new DeadLetterError("forged", "bad signature")), "forged");
    assert.equal(immediateKindOf(new Error("connection reset")), undefined);
    assert.equal(reasonOf(new Error("outer", { cause: new TypeError("inner") })), "Error: outer <- TypeError: inner");
  });

  it("are documented: every header and reason kind in docs/events.md", () => {
    const doc = readFileSync(join(repoRoot(), "docs", "events.md"), "utf8");
    const section = doc.slice(doc.indexOf("## Dead letters"));
    assert.ok(section.length > 100, "docs/events.md has a Dead letters section");
    for (const header of [
      ...Object.values(DEAD_LETTER_HEADERS),
      DEAD_LETTER_RETRY_HEADER,
      DEAD_LETTER_RETRIED_SEQ_HEADER,
    ]) {
      assert.ok(section.includes(`\`${header}\``), `${header} is documented`);
    }
    for (const kind of DEAD_LETTER_REASON_KINDS) assert.ok(section.includes(`\`${kind}\``), `${kind} is documented`);
  });
});
