import { randomUUID } from "node:crypto";
import type { Action } from "@pot/contracts";
import type { MoveName } from "@pot/mechanism";
import {
  newProposalId,
  admissionAction,
  answerRequest,
  commitRequest,
  consentOf,
  newMember,
  proposeRequest as signedProposal,
  revealRequest,
  sealMove,
  type Member,
  type SealedMove,
} from "@pot/client";
import type { Clients } from "./clients.js";
import { eventually } from "./clients.js";

// Members and their signed requests come from the platform client (@pot/client); these are the
// tests' shorthands on top of it.
export { answerRequest, commitRequest, newMember, revealRequest, sealMove, type Member, type SealedMove };

export const AGREEMENT = {
  version: 1,
  hash: new Uint8Array(32).fill(42),
  uri: "https://example.org/pot/agreement/v1",
};

/** An admission of `candidate`, with its consent to AGREEMENT. */
export function admissionOf(candidate: Member): Action {
  return admissionAction(consentOf(candidate, AGREEMENT));
}

export function proposeRequest(a: Member, b: Member, action: Action, proposalId = newProposalId()) {
  return signedProposal(a, b.id, action, proposalId);
}

/** Bootstraps `members` as genesis and waits until the matchmaker knows each of them. */
export async function bootstrap(clients: Clients, members: readonly Member[], requestId = randomUUID()) {
  const response = await clients.identity.bootstrap({
    requestId,
    members: members.map((m, i) => ({ publicKey: m.keys.publicKey, displayName: `genesis-${i}` })),
    agreement: { version: 0, hash: AGREEMENT.hash, uri: AGREEMENT.uri },
    force: false,
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
