import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { status, type ServiceError } from "@grpc/grpc-js";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { Envelope, Move, type BootstrapRequest } from "@pot/contracts";
import {
  bootstrapRequest as signedBootstrapRequest,
  excludeRequest,
  publishAgreementRequest,
  publishPolicyRequest,
  redeemRequest,
} from "@pot/client";
import { BATCH_HEADER, EVENT_TYPE_HEADER, REQUEST_DIGEST_HEADER, requestDigest, streamNames } from "@pot/event-store";
import { policyFromWire } from "@pot/wire";
import { eventually } from "./support/clients.js";
import {
  AGREEMENT,
  admissionOf,
  answerRequest,
  commitRequest,
  controlledConsent,
  newMember,
  proposeRequest,
  revealRequest,
  sealMove,
  TEST_NETWORK,
  TEST_OPERATOR,
  type Member,
} from "./support/players.js";
import { startSystem, type System } from "./support/system.js";

const query = { minSequence: 0n, consistencyToken: "" };

async function code(call: Promise<unknown>): Promise<status> {
  try {
    await call;
  } catch (error) {
    return (error as ServiceError).code;
  }
  assert.fail("the call was accepted");
}

/**
 * Exact idempotency over real gRPC: a request repeated with its id and content gets the first answer
 * (sequence, outcome, version, token), from the log, also after every service restarted; the same id
 * with other content is refused; and a last reveal whose resolution was not stored with it is finished
 * by its retry, which answers with the outcome.
 */
describe("exact idempotency of every command", () => {
  let system: System;
  const genesis: Member[] = Array.from({ length: 8 }, newMember);
  /** Each command with its first answer, for the retries after the restart. */
  const firsts: { what: string; call: () => Promise<unknown>; answer: unknown }[] = [];

  /** Calls twice, asserts the answers are identical, and keeps the call for the retry after the restart. */
  async function twice<T>(what: string, call: () => Promise<T>): Promise<T> {
    const first = await call();
    assert.deepEqual(await call(), first, `${what}: the retry got another answer`);
    firsts.push({ what, call, answer: first });
    return first;
  }

  /** A genesis signed by TEST_OPERATOR, or (forced) a re-bootstrap of the network it made, signed as one. */
  const bootstrapRequest = (requestId: string, names = "genesis", force = false): BootstrapRequest =>
    signedBootstrapRequest(
      TEST_NETWORK,
      genesis.map((m, i) => ({ publicKey: m.keys.publicKey, displayName: `${names}-${i}` })),
      AGREEMENT,
      { requestId, force, signers: [TEST_OPERATOR.keys], bootstrapsBefore: force ? 1 : 0 },
    );
  const operators = [TEST_OPERATOR.keys];

  before(async () => {
    system = await startSystem();
  });

  after(async () => {
    const codes = await system?.stop();
    assert.deepEqual(codes, [0, 0, 0]);
  });

  test("Bootstrap: the same request twice, the same id with other content", async () => {
    const { identity, matchmaker } = system.clients;
    const requestId = randomUUID();
    const first = await twice("Bootstrap", () => identity.bootstrap(bootstrapRequest(requestId)));
    assert.ok(first.sequence > 0n);
    assert.equal(await code(identity.bootstrap(bootstrapRequest(requestId, "other"))), status.FAILED_PRECONDITION);
    assert.equal(await code(identity.bootstrap(bootstrapRequest(requestId, "other", true))), status.ALREADY_EXISTS);
    for (const member of genesis) {
      await eventually("the matchmaker to know the genesis", () =>
        matchmaker.getStake({ memberId: member.id, ...query }),
      );
    }
  });

  test("PublishPolicy: a retry gets the version it first published, not a later one", async () => {
    const { adjudicator } = system.clients;
    const policy = policyFromWire((await adjudicator.getPolicy({ version: 0 })).policy);
    const requestId = randomUUID();
    const next = policy.version + 1;
    const request = publishPolicyRequest(TEST_NETWORK, policy, next, operators, requestId);
    const first = await twice("PublishPolicy", () => adjudicator.publishPolicy(request));
    const later = await adjudicator.publishPolicy(publishPolicyRequest(TEST_NETWORK, policy, next + 1, operators));
    assert.equal(later.version, first.version + 1);
    assert.deepEqual(await adjudicator.publishPolicy(request), first);
    const other = { ...policy, proposalTtlMs: policy.proposalTtlMs + 1 };
    assert.equal(
      await code(adjudicator.publishPolicy(publishPolicyRequest(TEST_NETWORK, other, next + 2, operators, requestId))),
      status.ALREADY_EXISTS,
    );
  });

  test("a game: Propose, Accept, CommitMove, RevealMove each twice; other content refused; the last reveal's retry has the outcome", async () => {
    const { matchmaker, adjudicator, identity } = system.clients;
    const [a, b, c] = genesis as [Member, Member, Member];
    const proposal = proposeRequest(a, b, admissionOf(newMember()));
    const proposed = await twice("Propose", () => matchmaker.propose(proposal));
    assert.equal(proposed.proposalId, proposal.proposalId);
    const otherPartner = proposeRequest(a, c, admissionOf(newMember()), proposal.proposalId);
    assert.equal(await code(matchmaker.propose(otherPartner)), status.ALREADY_EXISTS);

    const accepted = await twice("Accept", () => matchmaker.accept(answerRequest("accept", b, proposal.proposalId)));
    const forged = { ...answerRequest("accept", c, proposal.proposalId), memberId: b.id };
    assert.equal(await code(matchmaker.accept(forged)), status.PERMISSION_DENIED);
    const gameId = accepted.gameId;
    await adjudicator.getGame({ gameId, ...query, consistencyToken: accepted.consistencyToken });

    const [sealedA, sealedB] = [sealMove("cooperate"), sealMove("defect")];
    await twice("CommitMove A", () => adjudicator.commitMove(commitRequest(a, gameId, sealedA)));
    const otherCommitment = commitRequest(a, gameId, sealMove("defect"));
    assert.equal(await code(adjudicator.commitMove(otherCommitment)), status.FAILED_PRECONDITION);
    await twice("CommitMove B", () => adjudicator.commitMove(commitRequest(b, gameId, sealedB)));

    const revealedA = await twice("RevealMove A", () => adjudicator.revealMove(revealRequest(a, gameId, sealedA)));
    assert.equal(revealedA.outcome, 0, "the first reveal resolves nothing");
    const otherMove = revealRequest(a, gameId, { move: "defect", nonce: sealedA.nonce });
    assert.equal(await code(adjudicator.revealMove(otherMove)), status.FAILED_PRECONDITION);
    const last = await twice("RevealMove B (last)", () => adjudicator.revealMove(revealRequest(b, gameId, sealedB)));
    assert.ok(last.outcome !== 0, "the last reveal and its retry carry the outcome");
    assert.ok(last.sequence > revealedA.sequence);

    // b defected: it has credits to spend on an identity it controls.
    await identity.getMember({ memberId: b.id, ...query, consistencyToken: last.consistencyToken });
    const requestId = randomUUID();
    const consent = controlledConsent(newMember(), b);
    await twice("RedeemCredit", () => identity.redeemCredit(redeemRequest(TEST_NETWORK, b, consent, requestId)));
    const otherCandidate = redeemRequest(TEST_NETWORK, b, controlledConsent(newMember(), b), requestId);
    assert.equal(await code(identity.redeemCredit(otherCandidate)), status.ALREADY_EXISTS);
  });

  test("Decline and Cancel twice", async () => {
    const { matchmaker } = system.clients;
    const [, , c, d, e, f] = genesis as [Member, Member, Member, Member, Member, Member];
    const declined = proposeRequest(c, d, admissionOf(newMember()));
    await matchmaker.propose(declined);
    await twice("Decline", () => matchmaker.decline(answerRequest("decline", d, declined.proposalId)));
    const cancelled = proposeRequest(e, f, admissionOf(newMember()));
    await matchmaker.propose(cancelled);
    await twice("Cancel", () => matchmaker.cancel(answerRequest("cancel", e, cancelled.proposalId)));
  });

  test("a last reveal whose resolution was not stored with it: its retry resolves the game and answers with the outcome", async () => {
    const { matchmaker, adjudicator } = system.clients;
    const [, , c, , e] = genesis as [Member, Member, Member, Member, Member];
    const proposal = proposeRequest(c, e, admissionOf(newMember()));
    await matchmaker.propose(proposal);
    const accepted = await matchmaker.accept(answerRequest("accept", e, proposal.proposalId));
    const gameId = accepted.gameId;
    await adjudicator.getGame({ gameId, ...query, consistencyToken: accepted.consistencyToken });
    const [sealedC, sealedE] = [sealMove("defect"), sealMove("defect")];
    await adjudicator.commitMove(commitRequest(c, gameId, sealedC));
    await adjudicator.commitMove(commitRequest(e, gameId, sealedE));
    await adjudicator.revealMove(revealRequest(c, gameId, sealedC));

    // The first attempt of e's reveal: its MoveRevealed reached the log, the GameResolved after it did
    // not (the broker became unavailable between the two appends), exactly as the service writes them.
    const reveal = revealRequest(e, gameId, sealedE);
    const names = streamNames(system.namespace, "adjudicator");
    const subject = `${names.prefix}.game.${gameId}`;
    const jsm = await jetstreamManager(system.nc);
    const lastSeq = (await jsm.streams.getMessage(names.stream, { last_by_subj: subject }))?.seq ?? 0;
    const causationId = `reveal:${gameId}:${e.id}`;
    const envelope: Envelope = {
      eventId: `game.${gameId}/${causationId}/0`,
      type: "pot.v1.MoveRevealed",
      aggregateId: gameId,
      causationId,
      correlationId: gameId,
      occurredAt: new Date(),
      event: {
        $case: "moveRevealed",
        value: {
          gameId,
          memberId: e.id,
          move: Move.MOVE_DEFECT,
          nonce: sealedE.nonce,
          signature: reveal.signature,
          revealedAtMs: BigInt(Date.now()),
        },
      },
    };
    const headers = natsHeaders();
    headers.set(EVENT_TYPE_HEADER, envelope.type);
    headers.set(
      REQUEST_DIGEST_HEADER,
      requestDigest({ move: "defect", nonce: sealedE.nonce, signature: reveal.signature }),
    );
    headers.set(BATCH_HEADER, "1/2");
    await jetstream(system.nc).publish(subject, Envelope.encode(envelope).finish(), {
      msgID: envelope.eventId,
      expect: { lastSubjectSequence: lastSeq },
      headers,
    });

    const retried = await adjudicator.revealMove(reveal);
    assert.ok(retried.outcome !== 0, "the retry answers with the outcome");
    assert.deepEqual(await adjudicator.revealMove(reveal), retried, "and so does every retry after it");
    const { game } = await adjudicator.getGame({ gameId, ...query, consistencyToken: retried.consistencyToken });
    assert.equal(game?.outcome, retried.outcome);
    // One resolution on the log, right after the injected reveal.
    const stored = await jsm.streams.getMessage(names.stream, { last_by_subj: subject });
    assert.equal(stored?.seq, Number(retried.sequence));
    assert.equal(Number(retried.sequence), lastSeq + 2);
    firsts.push({ what: "RevealMove E (interrupted)", call: () => adjudicator.revealMove(reveal), answer: retried });
  });

  test("Exclude and PublishAgreement twice; the same id with other content", async () => {
    const { identity } = system.clients;
    const excluded = genesis[7]!;
    const requestId = randomUUID();
    const exclusion = excludeRequest(TEST_NETWORK, excluded.id, "violated the agreement", operators, requestId);
    await twice("Exclude", () => identity.exclude(exclusion));
    assert.equal(
      await code(identity.exclude(excludeRequest(TEST_NETWORK, excluded.id, "another reason", operators, requestId))),
      status.ALREADY_EXISTS,
    );

    const agreement = { hash: new Uint8Array(32).fill(7), uri: "https://example.org/pot/agreement/v2" };
    const agreementId = randomUUID();
    const agreementRequest = publishAgreementRequest(TEST_NETWORK, agreement, 2, operators, agreementId);
    const published = await twice("PublishAgreement", () => identity.publishAgreement(agreementRequest));
    assert.equal(published.version, 2);
    const otherUri = { ...agreement, uri: "https://example.org/pot/agreement/v2b" };
    assert.equal(
      await code(identity.publishAgreement(publishAgreementRequest(TEST_NETWORK, otherUri, 2, operators, agreementId))),
      status.ALREADY_EXISTS,
    );
  });

  test("after every service restarted, each request repeated gets its first answer from the log", async () => {
    for (const name of ["identity", "matchmaker", "adjudicator"] as const) {
      assert.equal(await system.stopService(name), 0);
      await system.startService(name);
    }
    // Same ports: the clients' channels reconnect by themselves.
    assert.ok(firsts.length >= 12, `${firsts.length} commands`);
    for (const { what, call, answer } of firsts) {
      assert.deepEqual(await call(), answer, `${what} after the restart`);
    }
  });
});
