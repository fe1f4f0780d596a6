import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Move, Outcome, type Envelope } from "@pot/contracts";
import {
  actionDigest,
  answerPayload,
  bytesToHex,
  commitmentOf,
  commitPayload,
  consentPayload,
  DEFAULT_POLICY,
  operatorBootstrapPayload,
  operatorExcludePayload,
  operatorPolicyPayload,
  operatorRotatePayload,
  proposePayload,
  redeemPayload,
  revealPayload,
  verify,
} from "@pot/mechanism";
import { actionFromWire, policyDigest } from "@pot/wire";
import {
  admissionAction,
  answerRequest,
  bootstrapRequest,
  commitRequest,
  consentFromJson,
  consentOf,
  consentToJson,
  eventToJson,
  excludeRequest,
  publishPolicyRequest,
  rotateOperatorKeysRequest,
  genericAction,
  LocalFileError,
  MoveStore,
  newMember,
  proposeRequest,
  readKeyFile,
  redeemRequest,
  revealRequest,
  sealMove,
  toJsonLine,
  writeKeyFile,
} from "./index.js";

const agreement = { version: 3, hash: new Uint8Array(32).fill(7) };
const NET = "net-unit";
const P1 = "6a1f0f8e-6a52-4a4e-9a39-0b9e4c1f2d3e";
const EXPIRES = 1_900_000_000_000;

describe("signed requests", () => {
  const a = newMember();
  const b = newMember();
  const candidate = newMember();
  const operator = newMember();

  test("the consent is the candidate's signature over the network, its key, the agreement, its context and expiry", () => {
    const consent = consentOf(NET, candidate, agreement, { proposalId: P1, expiresAtMs: EXPIRES });
    assert.deepEqual(consent.candidatePublicKey, candidate.keys.publicKey);
    assert.equal(consent.agreementVersion, 3);
    assert.equal(consent.proposalId, P1);
    assert.equal(consent.controllerId, "");
    assert.equal(consent.expiresAtMs, BigInt(EXPIRES));
    const terms = {
      candidatePublicKey: candidate.keys.publicKey,
      agreementVersion: 3,
      agreementHash: agreement.hash,
      proposalId: P1,
      controllerId: "",
      expiresAtMs: EXPIRES,
    };
    assert.ok(verify(consent.signature, consentPayload(NET, terms), candidate.keys.publicKey));
    assert.ok(!verify(consent.signature, consentPayload("other-net", terms), candidate.keys.publicKey));
    const controlled = consentOf(NET, candidate, agreement, { controllerId: a.id, expiresAtMs: EXPIRES });
    assert.equal(controlled.proposalId, "");
    assert.equal(controlled.controllerId, a.id);
  });

  test("a proposal is signed by the proposer over network, ids and the action digest", () => {
    const consent = consentOf(NET, candidate, agreement, { proposalId: P1, expiresAtMs: EXPIRES });
    for (const action of [admissionAction(consent), genericAction("post.create")]) {
      const request = proposeRequest(NET, a, b.id, action, P1);
      assert.equal(request.proposalId, P1);
      const payload = proposePayload(NET, request.proposalId, a.id, b.id, actionDigest(actionFromWire(action)));
      assert.ok(verify(request.signature, payload, a.keys.publicKey));
      assert.ok(!verify(request.signature, payload, b.keys.publicKey));
    }
    assert.match(proposeRequest(NET, a, b.id, genericAction("x")).proposalId, /^[0-9a-f-]{36}$/);
    assert.equal(proposeRequest(NET, a, b.id, admissionAction(consent)).proposalId, P1, "the consent's proposal id");
  });

  test("accept, decline and cancel each sign their own domain tag", () => {
    for (const kind of ["accept", "decline", "cancel"] as const) {
      const request = answerRequest(NET, kind, b, "p1");
      assert.ok(verify(request.signature, answerPayload(NET, kind, "p1", b.id), b.keys.publicKey));
      const other = kind === "accept" ? "decline" : "accept";
      assert.ok(!verify(request.signature, answerPayload(NET, other, "p1", b.id), b.keys.publicKey));
      assert.ok(!verify(request.signature, answerPayload("other-net", kind, "p1", b.id), b.keys.publicKey));
    }
  });

  test("commit and reveal agree on the commitment and carry the nonce only at the reveal", () => {
    const sealed = sealMove("defect");
    assert.equal(sealed.nonce.length, 32);
    assert.notDeepEqual(sealMove("defect").nonce, sealed.nonce, "a fresh nonce each time");
    const commit = commitRequest(NET, a, "g1", sealed);
    assert.deepEqual(commit.commitment, commitmentOf("g1", a.id, "defect", sealed.nonce));
    assert.ok(verify(commit.signature, commitPayload(NET, "g1", a.id, commit.commitment), a.keys.publicKey));
    assert.ok(!JSON.stringify(commit).includes("defect"));
    const reveal = revealRequest(NET, a, "g1", sealed);
    assert.equal(reveal.move, Move.MOVE_DEFECT);
    assert.deepEqual(reveal.nonce, sealed.nonce);
    assert.ok(verify(reveal.signature, revealPayload(NET, "g1", a.id, "defect", sealed.nonce), a.keys.publicKey));
    assert.throws(() => sealMove("cooperate", new Uint8Array(31)), /32 bytes/);
  });

  test("a redemption is signed by the member over the network, the candidate key and the request id", () => {
    const consent = consentOf(NET, candidate, agreement, { controllerId: a.id, expiresAtMs: EXPIRES });
    const request = redeemRequest(NET, a, consent, "req-1");
    assert.ok(verify(request.signature, redeemPayload(NET, a.id, candidate.keys.publicKey, "req-1"), a.keys.publicKey));
  });

  test("a consent file round-trips and names its network; an old or ambiguous one is refused", () => {
    const consent = consentOf(NET, candidate, agreement, { proposalId: P1, expiresAtMs: EXPIRES });
    const json = consentToJson(NET, consent);
    assert.equal(json.expiresAt, new Date(EXPIRES).toISOString());
    assert.deepEqual(consentFromJson(JSON.parse(JSON.stringify(json))), { networkId: NET, consent });
    assert.throws(() => consentFromJson({ ...json, format: "pot-consent/v1" }), /older format/);
    assert.throws(() => consentFromJson({ ...json, controllerId: a.id }), /exactly one of proposalId and controllerId/);
    assert.throws(() => consentFromJson({ ...json, networkId: "Bad_Net" }), /networkId/);
  });

  test("operator acts are signed over their payloads: exclusion, policy (with its version), agreement, rotation", () => {
    const exclusion = excludeRequest(NET, a.id, "spam", [operator.keys], "r1");
    assert.ok(
      verify(
        exclusion.operatorSignatures[0]!.signature,
        operatorExcludePayload(NET, "r1", a.id, "spam"),
        operator.keys.publicKey,
      ),
    );
    const policy = publishPolicyRequest(NET, DEFAULT_POLICY, 2, [operator.keys], "r2");
    assert.ok(
      verify(
        policy.operatorSignatures[0]!.signature,
        operatorPolicyPayload(NET, "r2", 2, policyDigest(DEFAULT_POLICY)),
        operator.keys.publicKey,
      ),
    );
    const rotation = rotateOperatorKeysRequest(NET, 1, [b.keys.publicKey], 1, [operator.keys], "r3");
    assert.ok(
      verify(
        rotation.operatorSignatures[0]!.signature,
        operatorRotatePayload(NET, "r3", 1, [b.keys.publicKey], 1),
        operator.keys.publicKey,
      ),
    );
  });

  test("bootstrap names the network and genesis members unless told, and never forces by default", () => {
    const request = bootstrapRequest(
      NET,
      [{ publicKey: a.keys.publicKey }, { publicKey: b.keys.publicKey, displayName: "bo" }],
      {
        hash: agreement.hash,
        uri: "https://example.org/a",
      },
      { signers: [operator.keys] },
    );
    assert.equal(request.networkId, NET);
    // Genesis names the signer's key, 1 of 1, and the signature covers the whole request.
    assert.deepEqual(request.operatorKeys, [operator.keys.publicKey]);
    assert.equal(request.operatorThreshold, 1);
    const payload = operatorBootstrapPayload(NET, {
      requestId: request.requestId,
      bootstrapsBefore: 0,
      force: false,
      members: request.members,
      agreement: { hash: agreement.hash, uri: "https://example.org/a" },
      operatorKeys: [operator.keys.publicKey],
      operatorThreshold: 1,
    });
    assert.ok(verify(request.operatorSignatures[0]!.signature, payload, operator.keys.publicKey));
    // A forced re-bootstrap names no keys.
    const forced = bootstrapRequest(
      NET,
      [],
      { hash: agreement.hash, uri: "u:x" },
      { signers: [operator.keys], bootstrapsBefore: 1, force: true },
    );
    assert.deepEqual(forced.operatorKeys, []);
    assert.equal(forced.operatorThreshold, 0);
    assert.deepEqual(
      request.members.map((m) => m.displayName),
      ["genesis-0", "bo"],
    );
    assert.equal(request.force, false);
    assert.equal(request.agreement?.uri, "https://example.org/a");
  });
});

describe("key files and sealed moves", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "pot-client-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("a key file round-trips, is private (0600) and is never overwritten by accident", async () => {
    const member = newMember();
    const path = join(dir, "nested", "key.json");
    await writeKeyFile(path, member, { displayName: "ada" });
    if (process.platform !== "win32") assert.equal((await stat(path)).mode & 0o777, 0o600);
    const loaded = await readKeyFile(path);
    assert.equal(loaded.member.id, member.id);
    assert.deepEqual(loaded.member.keys.secretKey, member.keys.secretKey);
    assert.equal(loaded.displayName, "ada");
    assert.equal(loaded.readableByOthers, false);
    await assert.rejects(writeKeyFile(path, newMember()), (error: Error) => {
      assert.ok(error instanceof LocalFileError);
      assert.match(error.message, /already exists/);
      return true;
    });
    const replacement = newMember();
    await writeKeyFile(path, replacement, { overwrite: true });
    assert.equal((await readKeyFile(path)).member.id, replacement.id);
  });

  test("a missing, foreign or tampered key file is refused with a sentence", async () => {
    await assert.rejects(readKeyFile(join(dir, "none.json")), /does not exist/);
    const foreign = join(dir, "foreign.json");
    await writeFile(foreign, '{"hello":1}');
    await assert.rejects(readKeyFile(foreign), /not a Proof-of-Trust key file/);
    const path = join(dir, "tampered.json");
    await writeKeyFile(path, newMember());
    const content = JSON.parse(await readFile(path, "utf8")) as Record<string, string>;
    await writeFile(path, JSON.stringify({ ...content, memberId: newMember().id }));
    await assert.rejects(readKeyFile(path), /inconsistent/);
  });

  test("a sealed move is saved before use, reused on retry, and cannot change", async () => {
    const store = new MoveStore(join(dir, "moves.json"));
    const member = newMember();
    const first = await store.seal("g1", member.id, "cooperate");
    const again = await store.seal("g1", member.id, "cooperate");
    assert.deepEqual(again.nonce, first.nonce);
    await assert.rejects(store.seal("g1", member.id, "defect"), /already sealed/);
    const stored = await new MoveStore(join(dir, "moves.json")).get("g1", member.id);
    assert.equal(stored?.nonce, bytesToHex(first.nonce));
    if (process.platform !== "win32") assert.equal((await stat(join(dir, "moves.json"))).mode & 0o777, 0o600);
    await store.markRevealed("g1", member.id);
    assert.ok((await store.get("g1", member.id))?.revealedAt);
    assert.equal(await store.get("g2", member.id), undefined);
  });
});

describe("events as JSON", () => {
  test("bytes become hex, 64-bit integers strings, enums names; oneofs appear under their case", () => {
    const member = newMember();
    const envelope: Envelope = {
      eventId: "e1",
      type: "pot.v1.GameResolved",
      aggregateId: "g1",
      causationId: "c1",
      correlationId: "g1",
      occurredAt: new Date(Date.UTC(2030, 0, 1)),
      event: {
        $case: "gameResolved",
        value: {
          gameId: "g1",
          outcome: Outcome.OUTCOME_A_DEFECTED,
          sponsorA: { memberId: member.id, publicKey: member.keys.publicKey },
          sponsorB: undefined,
          moveA: Move.MOVE_DEFECT,
          moveB: Move.MOVE_COOPERATE,
          action: genericAction("post.create", new Uint8Array([1, 2, 255])),
          policyVersion: 2,
          resolvedAtMs: 12345678901234n,
          admitted: false,
          granted: false,
          credits: [{ memberId: member.id, count: 2, expiresAtMs: 99n, cap: 0, capWindowMs: 0n }],
          suspensions: [],
          noShowIds: [],
          opening: undefined,
          signedMoveA: undefined,
          signedMoveB: undefined,
        },
      },
    };
    const json = eventToJson({
      stream: "POT_ADJUDICATOR",
      seq: 7,
      subject: "pot.adjudicator.game.g1",
      envelope,
      headers: {},
    });
    assert.equal(json.occurredAt, "2030-01-01T00:00:00.000Z");
    assert.deepEqual(json.event, {
      gameId: "g1",
      outcome: "OUTCOME_A_DEFECTED",
      sponsorA: { memberId: member.id, publicKey: member.id },
      moveA: "MOVE_DEFECT",
      moveB: "MOVE_COOPERATE",
      action: { generic: { kind: "post.create", payload: "0102ff" } },
      policyVersion: 2,
      resolvedAtMs: "12345678901234",
      credits: [{ memberId: member.id, count: 2, expiresAtMs: "99" }],
    });
    const line = toJsonLine({ big: 2n ** 64n, bytes: new Uint8Array([0, 171]), buffer: Buffer.from([1]) });
    assert.equal(line, '{"big":"18446744073709551616","bytes":"00ab","buffer":"01"}');
  });
});
