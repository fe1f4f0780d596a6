import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AdmissionKind, Member, MemberStatus } from "@pot/contracts";
import { memberRows } from "./format.js";

describe("pot status member", () => {
  const sponsored = Member.fromPartial({
    memberId: "m".repeat(64),
    status: MemberStatus.MEMBER_STATUS_ACTIVE,
    kind: AdmissionKind.ADMISSION_KIND_SPONSORED,
    sponsorIds: ["a", "b"],
    gameId: "g",
    admittedAtMs: 1_000n,
  });
  const admitted = (member: Member) => memberRows(member, 2_000).find(([label]) => label === "admitted")?.[1] ?? "";

  test("a plainly sponsored member reads as sponsored", () => {
    assert.match(admitted(sponsored), /, sponsored by a and b \(game g\)$/);
  });

  test("a tainted member is never shown as plainly sponsored", () => {
    const line = admitted({ ...sponsored, tainted: true });
    assert.match(line, /TAINTED: sponsored with a controlled or tainted sponsor, by a and b/);
    assert.doesNotMatch(line, /, sponsored by/);
  });
});
