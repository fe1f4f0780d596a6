import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { status, type ServiceError } from "@grpc/grpc-js";
import { newProposalId } from "@pot/client";
import {
  admissionOf,
  bootstrap,
  type Member,
  newMember,
  proposeRequest,
  signedExclude,
  TEST_NETWORK,
} from "./support/players.js";
import { startSystem, type System } from "./support/system.js";

const WAIT_CAP_MS = 400;
const HUGE = 200 * 1024;
const query = { minSequence: 0n, consistencyToken: "" };

/** A page token of the kind the services issue, carrying whatever cursor an attacker chose. */
const forgedToken = (after: unknown[], filters = "|") =>
  Buffer.from(JSON.stringify({ v: 1, after, filters })).toString("base64url");

/** The call's status, how long it took, and its message; fails when the call succeeds. */
async function refused(call: Promise<unknown>): Promise<{ code: status; details: string; ms: number }> {
  const started = performance.now();
  try {
    await call;
  } catch (error) {
    const { code, details } = error as ServiceError;
    return { code, details, ms: performance.now() - started };
  }
  assert.fail("the call was accepted");
}

/**
 * Bad input from a raw client at every service: oversized and malformed fields are refused with
 * INVALID_ARGUMENT, a short message and at once, and the connection they came on keeps serving.
 * The services run with CONSISTENCY_WAIT_MAX_MS=400, so no query waits longer than that.
 */
describe("limits at the edge, over real gRPC", () => {
  let system: System;
  let genesis: Member[];

  before(async () => {
    system = await startSystem({
      env: { CONSISTENCY_WAIT_MAX_MS: String(WAIT_CAP_MS), GRPC_MAX_RECEIVE_BYTES: "262144" },
    });
    genesis = [newMember(), newMember()];
    await bootstrap(system.clients, genesis);
  });

  after(async () => {
    const codes = await system?.stop();
    assert.deepEqual(codes, [0, 0, 0]);
  });

  /** Every malformed call of the list is INVALID_ARGUMENT within a second with a short message. */
  async function expectInvalid(name: string, call: () => Promise<unknown>, field: RegExp) {
    const { code, details, ms } = await refused(call());
    assert.equal(code, status.INVALID_ARGUMENT, `${name}: ${status[code]} ${details.slice(0, 200)}`);
    assert.match(details, field, name);
    assert.ok(details.length <= 200, `${name}: a ${details.length}-character message`);
    assert.ok(ms < 1_000, `${name}: took ${Math.round(ms)} ms`);
  }

  test("identity: a 200 KB token, a 200 KB day, NUL in a name, a reason and a URI, forged page tokens", async () => {
    const { identity } = system.clients;
    const memberId = genesis[0]!.id;
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      [
        "200 KB token",
        () => identity.getMember({ memberId, ...query, consistencyToken: "i".repeat(HUGE) }),
        /^consistency_token: is 204800 bytes long, at most 256$/,
      ],
      [
        "200 KB day",
        () => identity.getAdmissionStats({ fromDay: "2".repeat(HUGE), toDay: "", ...query }),
        /^from_day: /,
      ],
      [
        "malformed day",
        () => identity.getAdmissionStats({ fromDay: "2030-13-45", toDay: "", ...query }),
        /^from_day: '2030-13-45' is not a day/,
      ],
      [
        "NUL in a display name",
        () =>
          identity.bootstrap({
            requestId: randomUUID(),
            members: [
              { publicKey: newMember().keys.publicKey, displayName: "eve\u0000" },
              { publicKey: newMember().keys.publicKey, displayName: "mallory" },
            ],
            agreement: { version: 0, hash: new Uint8Array(32), uri: "https://example.org/a" },
            force: true,
            networkId: TEST_NETWORK,
            // Refused as malformed before any signature is looked at.
            operatorKeys: [],
            operatorThreshold: 0,
            operatorSignatures: [],
          }),
        /^members\[\]\.display_name: must not contain control characters \(U\+0000 at character 3\)$/,
      ],
      [
        "NUL in a reason",
        () => identity.exclude(signedExclude({ requestId: randomUUID(), memberId, reason: "spam\u0000" })),
        /^reason: must not contain control characters/,
      ],
      [
        "control character in a URI",
        () =>
          identity.publishAgreement({
            requestId: randomUUID(),
            hash: new Uint8Array(32),
            uri: "https://x/\u001b[2J",
            operatorSignatures: [],
          }),
        /^uri: must not contain control characters/,
      ],
      [
        "page token 1.5",
        () => identity.listMembers({ pageSize: 0, pageToken: forgedToken([1.5]), status: 0, kind: 0, ...query }),
        /^page_token: /,
      ],
      [
        "page token 1e300",
        () => identity.listMembers({ pageSize: 0, pageToken: forgedToken([1e300]), status: 0, kind: 0, ...query }),
        /^page_token: /,
      ],
      [
        "page token -1",
        () => identity.listMembers({ pageSize: 0, pageToken: forgedToken([-1]), status: 0, kind: 0, ...query }),
        /^page_token: /,
      ],
      [
        "200 KB page token",
        () => identity.listMembers({ pageSize: 0, pageToken: "A".repeat(HUGE), status: 0, kind: 0, ...query }),
        /^page_token: is 204800 bytes long/,
      ],
      [
        "garbage page token",
        () => identity.listMembers({ pageSize: 0, pageToken: "%%%", status: 0, kind: 0, ...query }),
        /^page_token: is not a token/,
      ],
    ];
    for (const [name, call, field] of cases) await expectInvalid(name, call, field);
    // The same connection still answers.
    const { member } = await identity.getMember({ memberId, ...query });
    assert.equal(member?.memberId, memberId);
  });

  test("matchmaker: a 200 KB token and an oversized proposal id, then the same connection still answers", async () => {
    const { matchmaker } = system.clients;
    const memberId = genesis[0]!.id;
    await expectInvalid(
      "200 KB token",
      () => matchmaker.getStake({ memberId, ...query, consistencyToken: `matchmaker:${"9".repeat(HUGE)}` }),
      /^consistency_token: /,
    );
    await expectInvalid(
      "200 KB proposal id",
      () => matchmaker.getProposal({ proposalId: "p".repeat(HUGE), ...query }),
      /^proposal_id: is 204800 bytes/,
    );
    await expectInvalid(
      "oversized generic payload",
      () =>
        matchmaker.propose({
          proposalId: randomUUID(),
          proposerId: memberId,
          partnerId: genesis[1]!.id,
          action: { action: { $case: "generic", value: { kind: "post.create", payload: new Uint8Array(5000) } } },
          signature: new Uint8Array(64),
        }),
      /^action\.generic\.payload: is 5000 bytes, at most 4096$/,
    );
    // Proposal ids carry their creation time (UUIDv7), so the matchmaker can forget old ones.
    const [a, b] = genesis as [Member, Member];
    const proposeUnder = (id: string) => matchmaker.propose(proposeRequest(a, b, admissionOf(newMember(), id), id));
    await expectInvalid("a v4 proposal id", () => proposeUnder(randomUUID()), /^proposal_id: must be a UUIDv7/);
    await expectInvalid(
      "a proposal id made eight days ago",
      () => proposeUnder(newProposalId(Date.now() - 8 * 86_400_000)),
      /^proposal_id: was made at .*, more than 168 h ago/,
    );
    const { stake } = await matchmaker.getStake({ memberId, ...query });
    assert.equal(stake?.memberId, memberId);
  });

  test("adjudicator: a 200 KB token and day, forged page tokens, then the same connection still answers", async () => {
    const { adjudicator } = system.clients;
    const memberId = genesis[0]!.id;
    const games = { pageSize: 0, memberId: "", phase: 0, outcome: 0, actionKind: "", ...query };
    const edges = { memberId, partnerId: "", pageSize: 0, ...query };
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      [
        "200 KB token",
        () => adjudicator.getGame({ gameId: randomUUID(), ...query, consistencyToken: "a".repeat(HUGE) }),
        /^consistency_token: /,
      ],
      [
        "200 KB day",
        () => adjudicator.getNetworkStats({ fromDay: "", toDay: "9".repeat(HUGE), ...query }),
        /^to_day: /,
      ],
      [
        "games page token 1.5",
        () => adjudicator.listGames({ ...games, pageToken: forgedToken([1.5], "|||") }),
        /^page_token: /,
      ],
      [
        "games page token 1e300",
        () => adjudicator.listGames({ ...games, pageToken: forgedToken([1e300], "|||") }),
        /^page_token: /,
      ],
      [
        "games page token -1",
        () => adjudicator.listGames({ ...games, pageToken: forgedToken([-1], "|||") }),
        /^page_token: /,
      ],
      [
        "edges page token not an id",
        () => adjudicator.getTrustEdges({ ...edges, pageToken: forgedToken([7], memberId) }),
        /^page_token: /,
      ],
      [
        "edges page token NUL",
        () => adjudicator.getTrustEdges({ ...edges, pageToken: forgedToken(["a\u0000"], memberId) }),
        /^page_token: /,
      ],
      [
        "200 KB action kind",
        () => adjudicator.listGames({ ...games, pageToken: "", actionKind: "k".repeat(HUGE) }),
        /^action_kind: /,
      ],
    ];
    for (const [name, call, field] of cases) await expectInvalid(name, call, field);
    const { policy } = await adjudicator.getPolicy({ version: 0 });
    assert.ok((policy?.version ?? 0) >= 1);
  });

  test("a request over GRPC_MAX_RECEIVE_BYTES is refused whole (RESOURCE_EXHAUSTED) and the connection keeps serving", async () => {
    const { identity } = system.clients;
    const { code, ms } = await refused(
      identity.exclude(signedExclude({ requestId: "r", memberId: genesis[0]!.id, reason: "x".repeat(300 * 1024) })),
    );
    assert.equal(code, status.RESOURCE_EXHAUSTED);
    assert.ok(ms < 1_000);
    const { member } = await identity.getMember({ memberId: genesis[0]!.id, ...query });
    assert.equal(member?.memberId, genesis[0]!.id);
  });

  test("a query waits no longer than CONSISTENCY_WAIT_MAX_MS, whatever its deadline, and 200 waiting calls share JetStream polls", async () => {
    const { identity } = system.clients;
    // Count what the identity service asks JetStream about the adjudicator's stream and its reaction to it.
    const stream = `${system.namespace.toUpperCase()}_ADJUDICATOR`;
    const asked = system.nc.subscribe(`$JS.API.CONSUMER.INFO.${stream}.>`);
    let requests = 0;
    void (async () => {
      for await (const _ of asked) requests++;
    })();
    await system.nc.flush();
    const started = performance.now();
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, () =>
        identity.getMember(
          { memberId: genesis[0]!.id, minSequence: 0n, consistencyToken: "adjudicator:999999999" },
          { deadlineMs: 30_000 },
        ),
      ),
    );
    const ms = performance.now() - started;
    await system.nc.flush();
    asked.unsubscribe();
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.equal((result.reason as ServiceError).code, status.UNAVAILABLE);
    }
    assert.ok(ms >= WAIT_CAP_MS - 50 && ms < WAIT_CAP_MS + 3_000, `200 waiting calls took ${Math.round(ms)} ms`);
    console.log(`200 waiting calls: ${requests} consumer-info requests in ${Math.round(ms)} ms`);
    // One poll per 250 ms for the whole service (a poll per call would be about 400 here).
    assert.ok(requests <= 10, `${requests} consumer-info requests for 200 waiting calls`);
  });
});
