import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { uuidV7, ValidationError } from "@pot/mechanism";
import { PROPOSAL_ID_MAX_AGE_MS, RETIRED_ID_HORIZON_MS, PROPOSAL_ID_MAX_SKEW_MS } from "../../domain/index.js";
import { requireFreshProposalId } from "./handlers.js";

const now = Date.UTC(2026, 11, 3, 12);
const idAt = (ms: number) => uuidV7(ms, crypto.getRandomValues(new Uint8Array(10)));

describe("proposal ids the matchmaker accepts", () => {
  it("a UUIDv7 made within the last 7 days, or a little ahead of the clock", () => {
    for (const at of [now, now - PROPOSAL_ID_MAX_AGE_MS, now + PROPOSAL_ID_MAX_SKEW_MS]) {
      const id = idAt(at);
      assert.equal(requireFreshProposalId(id, now), id);
    }
  });

  it("refuses a v4 id, one older than a day, one from the future, naming proposal_id", () => {
    for (const id of [randomUUID(), idAt(now - PROPOSAL_ID_MAX_AGE_MS - 1), idAt(now + PROPOSAL_ID_MAX_SKEW_MS + 1)]) {
      assert.throws(
        () => requireFreshProposalId(id, now),
        (error: Error) => error instanceof ValidationError && error.message.startsWith("proposal_id: "),
      );
    }
  });

  it("the ledger keeps retired ids until none of them could be accepted again", () => {
    // Retired no earlier than made, made no earlier than (id time - skew): dropped ids are this old at least.
    assert.ok(RETIRED_ID_HORIZON_MS - PROPOSAL_ID_MAX_SKEW_MS > PROPOSAL_ID_MAX_AGE_MS);
  });
});
