import { randomUUID } from "node:crypto";
import { Move, type Action } from "@pot/contracts";
import {
  actionDigest,
  answerPayload,
  commitmentOf,
  commitPayload,
  consentPayload,
  generateKeyPair,
  memberIdOf,
  proposePayload,
  revealPayload,
  sign,
  type KeyPair,
  type MoveName,
} from "@pot/mechanism";
import { actionFromWire } from "@pot/wire";
import type { Clients } from "./clients.js";
import { eventually } from "./clients.js";

export interface Member {
  readonly keys: KeyPair;
  readonly id: string;
}

export function newMember(): Member {
  const keys = generateKeyPair();
  return { keys, id: memberIdOf(keys.publicKey) };
}

export const AGREEMENT = {
  version: 1,
  hash: new Uint8Array(32).fill(42),
  uri: "https://example.org/pot/agreement/v1",
};

export function admissionOf(candidate: Member): Action {
  return {
    action: {
      $case: "admission",
      value: {
        consent: {
          candidatePublicKey: candidate.keys.publicKey,
          agreementVersion: AGREEMENT.version,
          agreementHash: AGREEMENT.hash,
          signature: sign(
            consentPayload(candidate.keys.publicKey, AGREEMENT.version, AGREEMENT.hash),
            candidate.keys.secretKey,
          ),
        },
      },
    },
  };
}

export function proposeRequest(a: Member, b: Member, action: Action, proposalId = randomUUID()) {
  const digest = actionDigest(actionFromWire(action));
  return {
    proposalId,
    proposerId: a.id,
    partnerId: b.id,
    action,
    signature: sign(proposePayload(proposalId, a.id, b.id, digest), a.keys.secretKey),
  };
}

export function answerRequest(kind: "accept" | "decline" | "cancel", member: Member, proposalId: string) {
  return {
    proposalId,
    memberId: member.id,
    signature: sign(answerPayload(kind, proposalId, member.id), member.keys.secretKey),
  };
}

export interface SealedMove {
  readonly move: MoveName;
  readonly nonce: Uint8Array;
}

export function sealMove(move: MoveName): SealedMove {
  return { move, nonce: crypto.getRandomValues(new Uint8Array(32)) };
}

export function commitRequest(member: Member, gameId: string, sealed: SealedMove) {
  const commitment = commitmentOf(gameId, member.id, sealed.move, sealed.nonce);
  return {
    gameId,
    memberId: member.id,
    commitment,
    signature: sign(commitPayload(gameId, member.id, commitment), member.keys.secretKey),
  };
}

export function revealRequest(member: Member, gameId: string, sealed: SealedMove) {
  return {
    gameId,
    memberId: member.id,
    move: sealed.move === "cooperate" ? Move.MOVE_COOPERATE : Move.MOVE_DEFECT,
    nonce: sealed.nonce,
    signature: sign(revealPayload(gameId, member.id, sealed.move, sealed.nonce), member.keys.secretKey),
  };
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
