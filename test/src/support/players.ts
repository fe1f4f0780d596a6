import { randomUUID } from "node:crypto";
import type { Action } from "@pot/contracts";
import type { MoveName } from "@pot/mechanism";
import {
  admissionAction,
  answerRequest as signedAnswer,
  commitRequest as signedCommit,
  consentedProposalId,
  consentOf,
  newMember,
  newProposalId,
  proposeRequest as signedProposal,
  revealRequest as signedReveal,
  sealMove,
  type Answer,
  type Member,
  type SealedMove,
} from "@pot/client";
import type { Clients } from "./clients.js";
import { eventually } from "./clients.js";

// Members and their signed requests come from the platform client (@pot/client); these are the
// tests' shorthands on top of it, signing for TEST_NETWORK.
export { newMember, sealMove, type Member, type SealedMove };

/** The network id every test system is configured with (POT_NETWORK_ID, see system.ts). */
export const TEST_NETWORK = "pot-test";

/**
 * How long the tests' consents are valid: long, as tests with a controlled clock set it years ahead
 * and move it by weeks (a test of expiry passes its own `expiresAtMs`).
 */
export const CONSENT_TTL_MS = 100 * 365 * 86_400_000;

export function answerRequest(answer: Answer, member: Member, proposalId: string) {
  return signedAnswer(TEST_NETWORK, answer, member, proposalId);
}

export function commitRequest(member: Member, gameId: string, sealed: SealedMove) {
  return signedCommit(TEST_NETWORK, member, gameId, sealed);
}

export function revealRequest(member: Member, gameId: string, sealed: SealedMove) {
  return signedReveal(TEST_NETWORK, member, gameId, sealed);
}

export const AGREEMENT = {
  version: 1,
  hash: new Uint8Array(32).fill(42),
  uri: "https://example.org/pot/agreement/v1",
};

/**
 * An admission of `candidate`, with its consent to AGREEMENT for proposal `proposalId` (a fresh id by
 * default: proposeRequest then proposes under it), valid for CONSENT_TTL_MS.
 */
export function admissionOf(
  candidate: Member,
  proposalId: string = newProposalId(),
  options: { networkId?: string; expiresAtMs?: number } = {},
): Action {
  return admissionAction(
    consentOf(options.networkId ?? TEST_NETWORK, candidate, AGREEMENT, {
      proposalId,
      expiresAtMs: options.expiresAtMs ?? Date.now() + CONSENT_TTL_MS,
    }),
  );
}

/** `candidate`'s consent to be admitted by `controller`'s credit. */
export function controlledConsent(
  candidate: Member,
  controller: Member,
  options: { networkId?: string; expiresAtMs?: number } = {},
) {
  return consentOf(options.networkId ?? TEST_NETWORK, candidate, AGREEMENT, {
    controllerId: controller.id,
    expiresAtMs: options.expiresAtMs ?? Date.now() + CONSENT_TTL_MS,
  });
}

/** A proposal under the id its admission's consent names (else `proposalId`, else a fresh one). */
export function proposeRequest(a: Member, b: Member, action: Action, proposalId?: string) {
  return signedProposal(TEST_NETWORK, a, b.id, action, proposalId ?? consentedProposalId(action) ?? newProposalId());
}

/** Bootstraps `members` as genesis and waits until the matchmaker knows each of them. */
export async function bootstrap(clients: Clients, members: readonly Member[], requestId = randomUUID()) {
  const response = await clients.identity.bootstrap({
    requestId,
    members: members.map((m, i) => ({ publicKey: m.keys.publicKey, displayName: `genesis-${i}` })),
    agreement: { version: 0, hash: AGREEMENT.hash, uri: AGREEMENT.uri },
    force: false,
    networkId: TEST_NETWORK,
  });
  for (const member of members) {
    await eventually(`matchmaker to know ${member.id.slice(0, 8)}`, () =>
      clients.matchmaker.getStake({ memberId: member.id, minSequence: 0n, consistencyToken: "" }),
    );
  }
  return response;
}

/** Plays one game to its last reveal; returns the game id and the last reveal's response. */
export async function playGame(clients: Clients, a: Member, b: Member, action: Action, moves: [MoveName, MoveName]) {
  const proposal = proposeRequest(a, b, action);
  await clients.matchmaker.propose(proposal);
  const accepted = await clients.matchmaker.accept(answerRequest("accept", b, proposal.proposalId));
  const gameId = accepted.gameId;
  const sealedA = sealMove(moves[0]);
  const sealedB = sealMove(moves[1]);
  await eventually(`game ${gameId} to start`, () => clients.adjudicator.commitMove(commitRequest(a, gameId, sealedA)));
  await clients.adjudicator.commitMove(commitRequest(b, gameId, sealedB));
  await clients.adjudicator.revealMove(revealRequest(a, gameId, sealedA));
  const last = await clients.adjudicator.revealMove(revealRequest(b, gameId, sealedB));
  return { gameId, accepted, last };
}
