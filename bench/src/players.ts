import { generateKeyPairSync, sign as signWith } from "node:crypto";
import { AcceptRequest, CommitMoveRequest, Move, ProposeRequest, RevealMoveRequest, type Action } from "@pot/contracts";
import {
  actionDigest,
  answerPayload,
  commitmentOf,
  commitPayload,
  consentPayload,
  memberIdOf,
  proposePayload,
  revealPayload,
} from "@pot/mechanism";
import { newProposalId } from "@pot/client";
import { actionFromWire } from "@pot/wire";

/** A member's key pair. Signs with Node's native Ed25519 (the same deterministic signatures as the
 * mechanism's, at a fraction of the cost), so the bench's own CPU goes to the calls it measures. */
export interface Player {
  readonly id: string;
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/** DER SubjectPublicKeyInfo of an Ed25519 key is a 12-byte header and the 32-byte key. */
const SPKI_HEADER_BYTES = 12;

export function newPlayer(): Player {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const raw = new Uint8Array(publicKey.export({ format: "der", type: "spki" }).subarray(SPKI_HEADER_BYTES));
  return {
    id: memberIdOf(raw),
    publicKey: raw,
    sign: (message) => new Uint8Array(signWith(null, message, privateKey)),
  };
}

/** The network id the bench's services are configured with (POT_NETWORK_ID) and its players sign for. */
export const BENCH_NETWORK = "pot-bench";

/** How long a bench candidate's consent is valid. */
const CONSENT_TTL_MS = 86_400_000;

export const AGREEMENT = { version: 1, hash: new Uint8Array(32).fill(42), uri: "https://example.org/pot/agreement/v1" };

/** The candidate's consent to be admitted by proposal `proposalId` (which the proposal must use). */
export function admissionOf(candidate: Player, proposalId: string): Action {
  const terms = {
    candidatePublicKey: candidate.publicKey,
    agreementVersion: AGREEMENT.version,
    agreementHash: AGREEMENT.hash,
    proposalId,
    controllerId: "",
    expiresAtMs: Date.now() + CONSENT_TTL_MS,
  };
  return {
    action: {
      $case: "admission",
      value: {
        consent: {
          ...terms,
          expiresAtMs: BigInt(terms.expiresAtMs),
          signature: candidate.sign(consentPayload(BENCH_NETWORK, terms)),
        },
      },
    },
  };
}

/** Every signed request of one cooperative game, prepared before it is played (the game id is the proposal id). */
export interface GameScript {
  readonly gameId: string;
  readonly a: Player;
  readonly b: Player;
  readonly candidateId: string;
  readonly propose: ProposeRequest;
  readonly accept: AcceptRequest;
  readonly commits: readonly [CommitMoveRequest, CommitMoveRequest];
  readonly reveals: readonly [RevealMoveRequest, RevealMoveRequest];
}

export function proposeRequest(a: Player, b: Player, action: Action, proposalId = newProposalId()): ProposeRequest {
  const digest = actionDigest(actionFromWire(action));
  return ProposeRequest.fromPartial({
    proposalId,
    proposerId: a.id,
    partnerId: b.id,
    action,
    signature: a.sign(proposePayload(BENCH_NETWORK, proposalId, a.id, b.id, digest)),
  });
}

export function scriptGame(a: Player, b: Player): GameScript {
  const candidate = newPlayer();
  const gameId = newProposalId();
  const sides = [a, b].map((player) => {
    const nonce = crypto.getRandomValues(new Uint8Array(32));
    const commitment = commitmentOf(gameId, player.id, "cooperate", nonce);
    return {
      commit: CommitMoveRequest.fromPartial({
        gameId,
        memberId: player.id,
        commitment,
        signature: player.sign(commitPayload(BENCH_NETWORK, gameId, player.id, commitment)),
      }),
      reveal: RevealMoveRequest.fromPartial({
        gameId,
        memberId: player.id,
        move: Move.MOVE_COOPERATE,
        nonce,
        signature: player.sign(revealPayload(BENCH_NETWORK, gameId, player.id, "cooperate", nonce)),
      }),
    };
  }) as [
    { commit: CommitMoveRequest; reveal: RevealMoveRequest },
    { commit: CommitMoveRequest; reveal: RevealMoveRequest },
  ];
  return {
    gameId,
    a,
    b,
    candidateId: candidate.id,
    propose: proposeRequest(a, b, admissionOf(candidate, gameId), gameId),
    accept: AcceptRequest.fromPartial({
      proposalId: gameId,
      memberId: b.id,
      signature: b.sign(answerPayload(BENCH_NETWORK, "accept", gameId, b.id)),
    }),
    commits: [sides[0].commit, sides[1].commit],
    reveals: [sides[0].reveal, sides[1].reveal],
  };
}
