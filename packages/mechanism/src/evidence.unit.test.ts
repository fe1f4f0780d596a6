import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  actionDigest,
  answerPayload,
  commitmentOf,
  commitPayload,
  consentPayload,
  generateKeyPair,
  memberIdOf,
  openingForgery,
  proposePayload,
  redeemPayload,
  redemptionForgery,
  resolutionForgery,
  revealPayload,
  sign,
  signedMoveOf,
  sponsoredAdmissionForgery,
  type ActionSpec,
  type GameSignatures,
  type KeyPair,
  type MoveName,
  type ResolutionClaim,
  type SignedMove,
} from "./index.js";

const NET = "evidence-test";
const GAME = "0190a000-0000-7000-8000-000000000001";

interface Who {
  readonly keys: KeyPair;
  readonly id: string;
}
const who = (): Who => {
  const keys = generateKeyPair();
  return { keys, id: memberIdOf(keys.publicKey) };
};

function admission(candidate: Who, proposalId = GAME): Extract<ActionSpec, { type: "admission" }> {
  const terms = {
    candidatePublicKey: candidate.keys.publicKey,
    agreementVersion: 1,
    agreementHash: new Uint8Array(32).fill(7),
    proposalId,
    controllerId: "",
    expiresAtMs: 2_000_000_000_000,
  };
  return {
    type: "admission",
    candidatePublicKey: terms.candidatePublicKey,
    agreementVersion: 1,
    agreementHash: terms.agreementHash,
    consentProposalId: proposalId,
    consentControllerId: "",
    consentExpiresAtMs: terms.expiresAtMs,
    consentSignature: sign(consentPayload(NET, terms), candidate.keys.secretKey),
  };
}

function opening(a: Who, b: Who, action: ActionSpec, gameId = GAME) {
  return {
    proposalSignature: sign(proposePayload(NET, gameId, a.id, b.id, actionDigest(action)), a.keys.secretKey),
    acceptSignature: sign(answerPayload(NET, "accept", gameId, b.id), b.keys.secretKey),
  };
}

function played(sponsor: Who, move: MoveName | undefined, reveal = true, gameId = GAME): SignedMove {
  const nonce = new Uint8Array(32).fill(sponsor.keys.publicKey[0]!);
  const committed = move ?? "cooperate";
  const commitment = commitmentOf(gameId, sponsor.id, committed, nonce);
  const base = {
    commitment,
    commitSignature: sign(commitPayload(NET, gameId, sponsor.id, commitment), sponsor.keys.secretKey),
  };
  if (!reveal || move === undefined)
    return { ...base, move: undefined, nonce: new Uint8Array(), revealSignature: new Uint8Array() };
  return {
    ...base,
    move,
    nonce,
    revealSignature: sign(revealPayload(NET, gameId, sponsor.id, move, nonce), sponsor.keys.secretKey),
  };
}

describe("openingForgery", () => {
  const [a, b, c, candidate] = [who(), who(), who(), who()];
  const action = admission(candidate);
  const claim = {
    gameId: GAME,
    sponsorA: { memberId: a.id, publicKey: a.keys.publicKey },
    sponsorB: { memberId: b.id, publicKey: b.keys.publicKey },
    action,
  };

  test("an opening both sponsors signed, over the candidate's consent to it, is justified", () => {
    assert.equal(openingForgery(NET, claim, opening(a, b, action)), undefined);
  });

  test("refused: no signatures, another network, another game, a swapped signer, another candidate", () => {
    const empty = { proposalSignature: new Uint8Array(), acceptSignature: new Uint8Array() };
    assert.match(openingForgery(NET, claim, empty) ?? "", /proposal signature does not verify.*sponsor A/);
    assert.match(openingForgery("other-net", claim, opening(a, b, action)) ?? "", /does not verify/);
    const otherGame = "0190a000-0000-7000-8000-000000000002";
    assert.match(openingForgery(NET, claim, opening(a, b, action, otherGame)) ?? "", /does not verify/);
    assert.match(openingForgery(NET, claim, opening(b, a, action)) ?? "", /does not verify/);
    const signedByC = { ...opening(a, b, action), acceptSignature: opening(a, c, action).acceptSignature };
    assert.match(openingForgery(NET, claim, signedByC) ?? "", /accept signature does not verify.*sponsor B/);
    const other = admission(who());
    assert.match(openingForgery(NET, { ...claim, action: other }, opening(a, b, action)) ?? "", /proposal signature/);
  });

  test("refused: a sponsor named with another key, the same member twice, a consent to another proposal", () => {
    const renamed = { ...claim, sponsorB: { memberId: b.id, publicKey: c.keys.publicKey } };
    assert.match(openingForgery(NET, renamed, opening(a, b, action)) ?? "", /named with another key/);
    const twice = { ...claim, sponsorB: claim.sponsorA };
    assert.match(openingForgery(NET, twice, opening(a, a, action)) ?? "", /same member/);
    const elsewhere = admission(candidate, "0190a000-0000-7000-8000-000000000009");
    const claimElsewhere = { ...claim, action: elsewhere };
    assert.match(openingForgery(NET, claimElsewhere, opening(a, b, elsewhere)) ?? "", /consent is not for proposal/);
  });
});

describe("signedMoveOf", () => {
  const a = who();
  test("a signed commitment and reveal that opens it proves the move; a commitment alone proves none", () => {
    assert.deepEqual(signedMoveOf(NET, GAME, a.id, played(a, "defect")), { revealed: "defect" });
    assert.deepEqual(signedMoveOf(NET, GAME, a.id, played(a, "cooperate", false)), { revealed: undefined });
    assert.deepEqual(signedMoveOf(NET, GAME, a.id, undefined), { revealed: undefined });
  });

  test("refused: a reveal that does not open the commitment, a signature of another member", () => {
    const move = played(a, "cooperate");
    const lied: SignedMove = {
      ...move,
      move: "defect",
      revealSignature: sign(revealPayload(NET, GAME, a.id, "defect", move.nonce), a.keys.secretKey),
    };
    assert.match(signedMoveOf(NET, GAME, a.id, lied).forgery ?? "", /do not open its commitment/);
    const other = who();
    assert.match(signedMoveOf(NET, GAME, other.id, move).forgery ?? "", /commitment signature/);
    const noCommit: SignedMove = { ...move, commitment: new Uint8Array(), commitSignature: new Uint8Array() };
    assert.match(signedMoveOf(NET, GAME, a.id, noCommit).forgery ?? "", /without a commitment/);
  });
});

describe("resolutionForgery", () => {
  const [a, b, candidate] = [who(), who(), who()];
  const action = admission(candidate);
  const sponsors = {
    gameId: GAME,
    sponsorA: { memberId: a.id, publicKey: a.keys.publicKey },
    sponsorB: { memberId: b.id, publicKey: b.keys.publicKey },
    action,
  };
  const claim = (over: Partial<ResolutionClaim>): ResolutionClaim => ({
    ...sponsors,
    outcome: "both-cooperated",
    moveA: "cooperate",
    moveB: "cooperate",
    admitted: true,
    granted: false,
    creditedIds: [],
    suspendedIds: [],
    noShowIds: [],
    ...over,
  });
  const signatures = (moveA: SignedMove | undefined, moveB: SignedMove | undefined): GameSignatures => ({
    opening: opening(a, b, action),
    moveA,
    moveB,
  });
  const cooperated = signatures(played(a, "cooperate"), played(b, "cooperate"));
  const aDefected = signatures(played(a, "defect"), played(b, "cooperate"));

  test("the outcomes the payoff table gives are justified", () => {
    assert.equal(resolutionForgery(NET, claim({}), cooperated), undefined);
    const betrayal = claim({
      outcome: "a-defected",
      moveA: "defect",
      admitted: false,
      creditedIds: [a.id],
      suspendedIds: [b.id],
    });
    assert.equal(resolutionForgery(NET, betrayal, aDefected), undefined);
    const noShow = claim({
      outcome: "no-show",
      moveB: undefined,
      admitted: false,
      noShowIds: [b.id],
      suspendedIds: [b.id],
    });
    assert.equal(
      resolutionForgery(NET, noShow, signatures(played(a, "cooperate"), played(b, "cooperate", false))),
      undefined,
    );
    const cancelled = claim({ outcome: "cancelled", moveA: undefined, moveB: undefined, admitted: false });
    assert.equal(resolutionForgery(NET, cancelled, signatures(undefined, undefined)), undefined);
  });

  test("refused: an admission the moves do not give, credits to the betrayed, suspending a bystander", () => {
    assert.match(resolutionForgery(NET, claim({}), aDefected) ?? "", /outcome both-cooperated does not follow/);
    const stolen = claim({ outcome: "a-defected", moveA: "defect", admitted: false, creditedIds: [b.id] });
    assert.match(resolutionForgery(NET, stolen, aDefected) ?? "", /credits to member/);
    const admittedToo = claim({ outcome: "a-defected", moveA: "defect", admitted: true, creditedIds: [a.id] });
    assert.match(resolutionForgery(NET, admittedToo, aDefected) ?? "", /an admission does not follow/);
    const bystander = who();
    const suspended = claim({ suspendedIds: [bystander.id] });
    assert.match(resolutionForgery(NET, suspended, cooperated) ?? "", /suspending member/);
    const cancelledAdmits = claim({ outcome: "cancelled", moveA: undefined, moveB: undefined });
    assert.match(resolutionForgery(NET, cancelledAdmits, signatures(undefined, undefined)) ?? "", /admission/);
  });

  test("refused: no signatures at all, a no-show of a sponsor who revealed, moves other than the signed ones", () => {
    const bare = {
      opening: { proposalSignature: new Uint8Array(), acceptSignature: new Uint8Array() },
      moveA: undefined,
      moveB: undefined,
    };
    assert.match(resolutionForgery(NET, claim({}), bare) ?? "", /proposal signature/);
    const wrongNoShow = claim({ outcome: "no-show", moveB: undefined, admitted: false, noShowIds: [a.id] });
    const half = signatures(played(a, "cooperate"), played(b, "cooperate", false));
    assert.match(resolutionForgery(NET, wrongNoShow, half) ?? "", /no-show ids/);
    const renamed = claim({
      outcome: "a-defected",
      moveA: "defect",
      moveB: "defect",
      admitted: false,
      creditedIds: [a.id],
    });
    assert.match(resolutionForgery(NET, renamed, aDefected) ?? "", /not the signed ones/);
  });
});

describe("sponsoredAdmissionForgery and redemptionForgery", () => {
  const [a, b, candidate, controller] = [who(), who(), who(), who()];
  const action = admission(candidate);

  test("a sponsored admission needs both sponsors' opening and two revealed cooperates", () => {
    const admitted = { gameId: GAME, sponsorIds: [a.id, b.id], action };
    const both = { opening: opening(a, b, action), moveA: played(a, "cooperate"), moveB: played(b, "cooperate") };
    assert.equal(sponsoredAdmissionForgery(NET, admitted, both), undefined);
    const defected = { ...both, moveB: played(b, "defect") };
    assert.match(sponsoredAdmissionForgery(NET, admitted, defected) ?? "", /did not reveal cooperate/);
    assert.match(sponsoredAdmissionForgery(NET, { ...admitted, sponsorIds: [a.id] }, both) ?? "", /names 1 sponsors/);
    assert.match(
      sponsoredAdmissionForgery(NET, { ...admitted, sponsorIds: [b.id, a.id] }, both) ?? "",
      /proposal signature/,
    );
  });

  test("a controlled admission needs the controller's redeem signature and the candidate's consent to it", () => {
    const terms = {
      candidatePublicKey: candidate.keys.publicKey,
      agreementVersion: 1,
      agreementHash: new Uint8Array(32).fill(7),
      proposalId: "",
      controllerId: controller.id,
      expiresAtMs: 2_000_000_000_000,
    };
    const consent = { ...terms, signature: sign(consentPayload(NET, terms), candidate.keys.secretKey) };
    const requestId = "0190a000-0000-7000-8000-0000000000aa";
    const signature = sign(
      redeemPayload(NET, controller.id, candidate.keys.publicKey, requestId),
      controller.keys.secretKey,
    );
    const claim = { controllerId: controller.id, consent, requestId, signature };
    assert.equal(redemptionForgery(NET, claim), undefined);
    assert.match(redemptionForgery(NET, { ...claim, requestId: "other" }) ?? "", /redeem signature/);
    assert.match(redemptionForgery(NET, { ...claim, controllerId: a.id }) ?? "", /consent is not for controller/);
    const forgedConsent = { ...consent, signature: new Uint8Array(64) };
    assert.match(redemptionForgery(NET, { ...claim, consent: forgedConsent }) ?? "", /consent signature/);
  });
});
