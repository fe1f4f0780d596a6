import { randomUUID } from "node:crypto";
import type {
  Action,
  BootstrapRequest,
  ExcludeRequest,
  Policy as PbPolicy,
  PublishAgreementRequest,
  PublishPolicyRequest,
} from "@pot/contracts";
import {
  operatorAgreementPayload,
  operatorBootstrapPayload,
  operatorExcludePayload,
  operatorPolicyPayload,
  sameBytes,
  type KeyPair,
  type MoveName,
} from "@pot/mechanism";
import { policyDigest, policyFromWire } from "@pot/wire";
import {
  admissionAction,
  answerRequest as signedAnswer,
  commitRequest as signedCommit,
  consentedProposalId,
  consentOf,
  newMember,
  operatorSignatures,
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

/**
 * The operator key every test network names at genesis (1 of 1) and signs its operator acts with
 * (docs/api.md, "Operator signatures"). One per test process.
 */
export const TEST_OPERATOR: Member = newMember();

/**
 * `request` signed by `signers` (default TEST_OPERATOR): at genesis (no NetworkBootstrapped yet) naming
 * the signers' keys unless the request names some; forced, as the current operators must.
 */
export async function signedBootstrap(
  clients: Clients,
  request: Omit<BootstrapRequest, "operatorKeys" | "operatorThreshold" | "operatorSignatures"> &
    Partial<Pick<BootstrapRequest, "operatorKeys" | "operatorThreshold">>,
  signers: readonly KeyPair[] = [TEST_OPERATOR.keys],
): Promise<BootstrapRequest> {
  const { bootstraps } = await clients.identity.getAgreement({});
  const genesis = bootstraps === 0;
  const operatorKeys = request.operatorKeys ?? (genesis ? signers.map((k) => k.publicKey) : []);
  const operatorThreshold = request.operatorThreshold ?? (genesis ? operatorKeys.length : 0);
  const payload = operatorBootstrapPayload(request.networkId, {
    requestId: request.requestId,
    bootstrapsBefore: bootstraps,
    force: request.force,
    members: request.members,
    agreement: { hash: request.agreement?.hash ?? new Uint8Array(), uri: request.agreement?.uri ?? "" },
    operatorKeys,
    operatorThreshold,
  });
  return { ...request, operatorKeys, operatorThreshold, operatorSignatures: operatorSignatures(payload, signers) };
}

/** An Exclude signed by `signers` (default TEST_OPERATOR) for TEST_NETWORK. */
export function signedExclude(
  request: Omit<ExcludeRequest, "operatorSignatures">,
  signers: readonly KeyPair[] = [TEST_OPERATOR.keys],
): ExcludeRequest {
  const payload = operatorExcludePayload(TEST_NETWORK, request.requestId, request.memberId, request.reason);
  return { ...request, operatorSignatures: operatorSignatures(payload, signers) };
}

/**
 * A PublishPolicy signed by `signers` (default TEST_OPERATOR) for the version it becomes (the current + 1).
 * A policy the client cannot even read is signed over nothing: the adjudicator refuses it as malformed first.
 */
export async function signedPolicy(
  clients: Clients,
  request: { requestId: string; policy: PbPolicy | undefined },
  signers: readonly KeyPair[] = [TEST_OPERATOR.keys],
): Promise<PublishPolicyRequest> {
  const current = await clients.adjudicator.getPolicy({ version: 0 });
  let digest: Uint8Array = new Uint8Array(32);
  try {
    digest = policyDigest(policyFromWire(request.policy));
  } catch {
    // malformed: refused before any signature is looked at
  }
  const payload = operatorPolicyPayload(TEST_NETWORK, request.requestId, (current.policy?.version ?? 0) + 1, digest);
  return { ...request, operatorSignatures: operatorSignatures(payload, signers) };
}

/** A PublishAgreement signed by `signers` (default TEST_OPERATOR) for the version it becomes. */
export async function signedAgreement(
  clients: Clients,
  request: Omit<PublishAgreementRequest, "operatorSignatures">,
  signers: readonly KeyPair[] = [TEST_OPERATOR.keys],
): Promise<PublishAgreementRequest> {
  const { agreement } = await clients.identity.getAgreement({});
  const version =
    agreement === undefined ? 0 : sameBytes(agreement.hash, request.hash) ? agreement.version : agreement.version + 1;
  const payload = operatorAgreementPayload(TEST_NETWORK, request.requestId, version, request.hash, request.uri);
  return { ...request, operatorSignatures: operatorSignatures(payload, signers) };
}

/** Bootstraps `members` as genesis and waits until the matchmaker knows each of them. */
export async function bootstrap(clients: Clients, members: readonly Member[], requestId = randomUUID()) {
  const response = await clients.identity.bootstrap(
    await signedBootstrap(clients, {
      requestId,
      members: members.map((m, i) => ({ publicKey: m.keys.publicKey, displayName: `genesis-${i}` })),
      agreement: { version: 0, hash: AGREEMENT.hash, uri: AGREEMENT.uri },
      force: false,
      networkId: TEST_NETWORK,
    }),
  );
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
