import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { status } from "@grpc/grpc-js";
import { newProposalId, proposeRequest as signedProposal, redeemRequest } from "@pot/client";
import { AdmissionKind, type Consent } from "@pot/contracts";
import { streamNames } from "@pot/event-store";
import { answerPayload, commitmentOf, commitPayload, sign } from "@pot/mechanism";
import { eventually } from "./support/clients.js";
import {
  admissionOf,
  AGREEMENT,
  answerRequest,
  bootstrap,
  commitRequest,
  controlledConsent,
  newMember,
  playGame,
  proposeRequest,
  revealRequest,
  sealMove,
  TEST_NETWORK,
  TEST_OPERATOR,
  type Member,
} from "./support/players.js";
import { readStream, typesOf } from "./support/streams.js";
import { startSystem, type System } from "./support/system.js";

/**
 * The network id in every signature and the consent bound to its context, through gRPC against the
 * three services as processes on real NATS and Postgres: the consent hijack (a credit holder redeems
 * an honest pending candidate's public consent as its own controlled identity) is refused, as are a
 * consent for another proposal, for another network or past its expiry, and any act signed for
 * another network.
 */
describe("consent bound to network, context and expiry", () => {
  let system: System;
  let g: Member[];
  let attacker: Member;
  const expectStatus = async (promise: Promise<unknown>, code: status, pattern?: RegExp) => {
    await assert.rejects(promise, (error: Error & { code?: number; details?: string }) => {
      assert.equal(error.code, code, `expected status ${status[code]}, got ${error.code}: ${error.details}`);
      if (pattern) assert.match(error.details ?? "", pattern);
      return true;
    });
  };
  const memberOf = async (id: string) =>
    (await system.clients.identity.getMember({ memberId: id, minSequence: 0n, consistencyToken: "" })).member;
  const creditsOf = async (member: Member) => (await memberOf(member.id))?.credits ?? 0;
  const redeem = (member: Member, consent: Consent) =>
    system.clients.identity.redeemCredit(redeemRequest(TEST_NETWORK, member, consent));

  before(async () => {
    system = await startSystem();
    g = Array.from({ length: 8 }, newMember);
  });

  after(async () => {
    const codes = await system?.stop();
    assert.deepEqual(codes, [0, 0, 0]);
  });

  test("genesis names the network: another id, or none, is refused and records nothing; GetAgreement returns it", async () => {
    const { identity } = system.clients;
    const request = {
      requestId: randomUUID(),
      members: g.map((m) => ({ publicKey: m.keys.publicKey, displayName: "" })),
      agreement: { version: 0, hash: AGREEMENT.hash, uri: AGREEMENT.uri },
      force: false,
      // The network id is checked first: these are refused before any signature is looked at.
      operatorKeys: [TEST_OPERATOR.keys.publicKey],
      operatorThreshold: 1,
      operatorSignatures: [],
    };
    const before = await identity.getAgreement({});
    assert.equal(before.networkId, TEST_NETWORK);
    assert.equal(before.bootstrapped, false);
    assert.equal(before.agreement, undefined);
    await expectStatus(
      identity.bootstrap({ ...request, networkId: "another-net" }),
      status.FAILED_PRECONDITION,
      /network_id 'another-net' is not the network this deployment is configured for \('pot-test', POT_NETWORK_ID\)/,
    );
    await expectStatus(identity.bootstrap({ ...request, networkId: "" }), status.INVALID_ARGUMENT, /^network_id: /);
    await expectStatus(identity.bootstrap({ ...request, networkId: "Not_Valid" }), status.INVALID_ARGUMENT);
    assert.deepEqual(typesOf(await readStream(system.nc, streamNames(system.namespace, "identity").stream)), []);

    await bootstrap(system.clients, g);
    const genesis = (await readStream(system.nc, streamNames(system.namespace, "identity").stream))[0]!;
    assert.equal(genesis.envelope.event?.$case, "networkBootstrapped");
    assert.equal(
      genesis.envelope.event?.$case === "networkBootstrapped" ? genesis.envelope.event.value.networkId : "",
      TEST_NETWORK,
    );
    const answer = await identity.getAgreement({});
    assert.equal(answer.networkId, TEST_NETWORK);
    assert.equal(answer.bootstrapped, true);
    assert.deepEqual(
      {
        version: answer.agreement?.version,
        hash: Buffer.from(answer.agreement?.hash ?? []).toString("hex"),
        uri: answer.agreement?.uri,
      },
      { version: 1, hash: Buffer.from(AGREEMENT.hash).toString("hex"), uri: AGREEMENT.uri },
    );
    await eventually("the default policy", async () =>
      (await system.clients.adjudicator.getPolicy({ version: 0 })).policy?.version === 1 ? true : undefined,
    );
    // The attacker holds admission credits: it defected on a cooperator.
    attacker = g[0]!;
    await playGame(system.clients, attacker, g[1]!, admissionOf(newMember()), ["defect", "cooperate"]);
    await eventually("the attacker's credits", async () => ((await creditsOf(attacker)) === 2 ? true : undefined));
  });

  test("the consent hijack: a credit holder cannot redeem an honest pending candidate's public consent", async () => {
    const { matchmaker } = system.clients;
    const honest = newMember();
    const [a, b] = [g[2]!, g[3]!];
    const proposal = proposeRequest(a, b, admissionOf(honest));
    await eventually("the proposal", () => matchmaker.propose(proposal));
    // The consent is public: any reader of the matchmaker's stream finds it in the ProposalMade event.
    const made = (await readStream(system.nc, streamNames(system.namespace, "matchmaker").stream))
      .map((stored) => stored.envelope.event)
      .find((event) => event?.$case === "proposalMade" && event.value.proposalId === proposal.proposalId);
    const action = made?.$case === "proposalMade" ? made.value.action?.action : undefined;
    assert.equal(action?.$case, "admission");
    const published = action?.$case === "admission" ? action.value.consent : undefined;
    assert.equal(published?.proposalId, proposal.proposalId);

    await expectStatus(
      redeem(attacker, published!),
      status.PERMISSION_DENIED,
      new RegExp(`consent is for proposal ${proposal.proposalId}, not for a credit redeemed by member ${attacker.id}`),
    );
    // Nor can it be replayed into a game of the attacker's own, under another proposal id.
    const replay = proposeRequest(
      attacker,
      g[4]!,
      { action: { $case: "admission", value: { consent: published } } },
      newProposalId(),
    );
    await expectStatus(
      matchmaker.propose(replay),
      status.PERMISSION_DENIED,
      new RegExp(`consented to proposal ${proposal.proposalId}, not to proposal ${replay.proposalId}`),
    );
    // Nothing was admitted or spent: the honest candidate is still only a candidate, the credits are intact.
    await expectStatus(memberOf(honest.id), status.NOT_FOUND);
    assert.equal(await creditsOf(attacker), 2);

    // The honest proposal goes on and admits the candidate, sponsored.
    const accepted = await matchmaker.accept(answerRequest("accept", b, proposal.proposalId));
    const sealed = [sealMove("cooperate"), sealMove("cooperate")] as const;
    await eventually("the game", () =>
      system.clients.adjudicator.commitMove(commitRequest(a, accepted.gameId, sealed[0])),
    );
    await system.clients.adjudicator.commitMove(commitRequest(b, accepted.gameId, sealed[1]));
    await system.clients.adjudicator.revealMove(revealRequest(a, accepted.gameId, sealed[0]));
    await system.clients.adjudicator.revealMove(revealRequest(b, accepted.gameId, sealed[1]));
    const admitted = await eventually("the honest candidate admitted", () =>
      memberOf(honest.id).catch(() => undefined),
    );
    assert.equal(admitted?.kind, AdmissionKind.ADMISSION_KIND_SPONSORED);
  });

  test("a consent for another controller, for another network or past its expiry is refused at RedeemCredit", async () => {
    await expectStatus(
      redeem(attacker, controlledConsent(newMember(), g[5]!)),
      status.PERMISSION_DENIED,
      new RegExp(`consented to be admitted by member ${g[5]!.id}, not by member ${attacker.id}`),
    );
    await expectStatus(
      redeem(attacker, controlledConsent(newMember(), attacker, { networkId: "another-net" })),
      status.PERMISSION_DENIED,
      /consent signature does not verify against the candidate's key for network 'pot-test'/,
    );
    await expectStatus(
      redeem(attacker, controlledConsent(newMember(), attacker, { expiresAtMs: Date.now() - 1 })),
      status.FAILED_PRECONDITION,
      /consent expired at/,
    );
    const noExpiry = { ...controlledConsent(newMember(), attacker), expiresAtMs: 0n };
    await expectStatus(redeem(attacker, noExpiry), status.INVALID_ARGUMENT, /^consent.expires_at_ms: is required/);
    assert.equal(await creditsOf(attacker), 2, "no refused redemption spent a credit");
    // A consent naming the attacker as controller is the only one it can redeem.
    const own = newMember();
    const redeemed = await redeem(attacker, controlledConsent(own, attacker));
    assert.equal(redeemed.admittedMemberId, own.id);
    assert.equal(redeemed.creditsLeft, 1);
  });

  test("a consent for another network or past its expiry is refused at Propose", async () => {
    const { matchmaker } = system.clients;
    const [a, b] = [g[5]!, g[6]!];
    await expectStatus(
      matchmaker.propose(proposeRequest(a, b, admissionOf(newMember(), newProposalId(), { networkId: "another-net" }))),
      status.PERMISSION_DENIED,
      /consent signature does not verify against the candidate's key for network 'pot-test'/,
    );
    await expectStatus(
      matchmaker.propose(
        proposeRequest(a, b, admissionOf(newMember(), newProposalId(), { expiresAtMs: Date.now() - 1 })),
      ),
      status.FAILED_PRECONDITION,
      /consent expired at/,
    );
  });

  test("an act signed for another network is refused: propose, accept, commit, redeem", async () => {
    const { matchmaker, adjudicator, identity } = system.clients;
    const [a, b] = [g[5]!, g[6]!];
    const foreign = "another-net";
    const proposal = proposeRequest(a, b, admissionOf(newMember()));
    await expectStatus(
      matchmaker.propose(signedProposal(foreign, a, b.id, proposal.action!, proposal.proposalId)),
      status.PERMISSION_DENIED,
      /signature does not verify against the key of proposer .* for network 'pot-test'/,
    );
    await matchmaker.propose(proposal);
    await expectStatus(
      matchmaker.accept({
        proposalId: proposal.proposalId,
        memberId: b.id,
        signature: sign(answerPayload(foreign, "accept", proposal.proposalId, b.id), b.keys.secretKey),
      }),
      status.PERMISSION_DENIED,
      /for network 'pot-test'/,
    );
    const { gameId } = await matchmaker.accept(answerRequest("accept", b, proposal.proposalId));
    const sealed = sealMove("cooperate");
    const commitment = commitmentOf(gameId, a.id, "cooperate", sealed.nonce);
    await eventually(
      "the game",
      async () => (await adjudicator.getGame({ gameId, minSequence: 0n, consistencyToken: "" })).game,
    );
    await expectStatus(
      adjudicator.commitMove({
        gameId,
        memberId: a.id,
        commitment,
        signature: sign(commitPayload(foreign, gameId, a.id, commitment), a.keys.secretKey),
      }),
      status.PERMISSION_DENIED,
      /for network 'pot-test'/,
    );
    assert.ok((await adjudicator.commitMove(commitRequest(a, gameId, sealed))).sequence > 0n);
    await expectStatus(
      identity.redeemCredit(redeemRequest(foreign, attacker, controlledConsent(newMember(), attacker))),
      status.PERMISSION_DENIED,
      /against the key of member .* for network 'pot-test'/,
    );
    assert.equal(await creditsOf(attacker), 1);
  });
});
