import {
  GetGameRequest,
  GetMemberRequest,
  GetPolicyRequest,
  GetProposalRequest,
  GetStakeRequest,
  type Action,
  type Consent,
} from "@pot/contracts";
import type { Policy } from "@pot/mechanism";
import {
  connect,
  type CallOptions,
  type ConnectOptions,
  type Connections,
  type ServiceAddresses,
} from "./connection.js";
import type { Member } from "./members.js";
import {
  answerRequest,
  bootstrapRequest,
  commitRequest,
  excludeRequest,
  proposeRequest,
  publishAgreementRequest,
  publishPolicyRequest,
  redeemRequest,
  revealRequest,
  type Answer,
  type SealedMove,
} from "./requests.js";
import { SERVICE_NAMES } from "./streams.js";

export type ReadOptions = { minSequence?: bigint; consistencyToken?: string } & CallOptions;

function consistency(options: ReadOptions): { minSequence?: bigint; consistencyToken?: string } {
  return {
    ...(options.minSequence !== undefined ? { minSequence: options.minSequence } : {}),
    ...(options.consistencyToken ? { consistencyToken: options.consistencyToken } : {}),
  };
}

/**
 * A platform's handle on a Proof-of-Trust network: the three services' gRPC clients (as
 * `identity`, `matchmaker`, `adjudicator`, every RPC promisified) plus one method per member or
 * operator action that builds and signs the request. Signing happens here, with the member's key:
 * the services only ever see signatures.
 */
export class PotClient {
  readonly identity: Connections["identity"];
  readonly matchmaker: Connections["matchmaker"];
  readonly adjudicator: Connections["adjudicator"];

  constructor(private readonly connections: Connections) {
    this.identity = connections.identity;
    this.matchmaker = connections.matchmaker;
    this.adjudicator = connections.adjudicator;
  }

  static connect(addresses: ServiceAddresses, options: ConnectOptions = {}): PotClient {
    return new PotClient(connect(addresses, options));
  }

  /** Resolves once all three services accept connections; rejects naming the first that does not. */
  async waitForReady(deadlineMs = 5_000): Promise<void> {
    await Promise.all(
      SERVICE_NAMES.map((name) =>
        this.connections[name].waitForReady(deadlineMs).catch((error: unknown) => {
          throw new Error(`the ${name} service does not answer: ${(error as Error).message}`, { cause: error });
        }),
      ),
    );
  }

  close(): void {
    this.connections.close();
  }

  /** Operator: start the network from its genesis members and legal agreement. */
  bootstrap(
    members: readonly { publicKey: Uint8Array; displayName?: string }[],
    agreement: { hash: Uint8Array; uri: string },
    options: { force?: boolean; requestId?: string } & CallOptions = {},
  ) {
    return this.identity.bootstrap(bootstrapRequest(members, agreement, options), options);
  }

  propose(proposer: Member, partnerId: string, action: Action, options: { proposalId?: string } & CallOptions = {}) {
    return this.matchmaker.propose(proposeRequest(proposer, partnerId, action, options.proposalId), options);
  }

  accept(member: Member, proposalId: string, options?: CallOptions) {
    return this.matchmaker.accept(answerRequest("accept", member, proposalId), options);
  }

  decline(member: Member, proposalId: string, options?: CallOptions) {
    return this.matchmaker.decline(answerRequest("decline", member, proposalId), options);
  }

  cancel(member: Member, proposalId: string, options?: CallOptions) {
    return this.matchmaker.cancel(answerRequest("cancel", member, proposalId), options);
  }

  answer(answer: Answer, member: Member, proposalId: string, options?: CallOptions) {
    return answer === "accept"
      ? this.accept(member, proposalId, options)
      : answer === "decline"
        ? this.decline(member, proposalId, options)
        : this.cancel(member, proposalId, options);
  }

  /** Sends the commitment of a sealed move; keep `sealed` (move and nonce) for the reveal. */
  commit(member: Member, gameId: string, sealed: SealedMove, options?: CallOptions) {
    return this.adjudicator.commitMove(commitRequest(member, gameId, sealed), options);
  }

  reveal(member: Member, gameId: string, sealed: SealedMove, options?: CallOptions) {
    return this.adjudicator.revealMove(revealRequest(member, gameId, sealed), options);
  }

  /** Spends one of the member's admission credits on the identity that signed `consent`. */
  redeemCredit(member: Member, consent: Consent, options: { requestId?: string } & CallOptions = {}) {
    return this.identity.redeemCredit(redeemRequest(member, consent, options.requestId), options);
  }

  /** Operator: exclude a member for a violation of the agreement. */
  exclude(memberId: string, reason: string, options: { requestId?: string } & CallOptions = {}) {
    return this.identity.exclude(excludeRequest(memberId, reason, options.requestId), options);
  }

  /** Operator: validate and publish a new policy version (its `version` is assigned by the adjudicator). */
  publishPolicy(policy: Policy, options: { requestId?: string } & CallOptions = {}) {
    return this.adjudicator.publishPolicy(publishPolicyRequest(policy, options.requestId), options);
  }

  /** Operator: publish a new version of the legal agreement. */
  publishAgreement(agreement: { hash: Uint8Array; uri: string }, options: { requestId?: string } & CallOptions = {}) {
    return this.identity.publishAgreement(publishAgreementRequest(agreement, options.requestId), options);
  }

  /**
   * Queries take a consistency token (the `consistencyToken` of a command's response, or several
   * joined by commas) or a minimum sequence of the service's own stream: the service waits, within
   * the call's deadline, until its read model has caught up with it (read-your-writes).
   */
  getMember(memberId: string, options: ReadOptions = {}) {
    return this.identity.getMember(GetMemberRequest.fromPartial({ memberId, ...consistency(options) }), options);
  }

  getStake(memberId: string, options: ReadOptions = {}) {
    return this.matchmaker.getStake(GetStakeRequest.fromPartial({ memberId, ...consistency(options) }), options);
  }

  getProposal(proposalId: string, options: ReadOptions = {}) {
    return this.matchmaker.getProposal(
      GetProposalRequest.fromPartial({ proposalId, ...consistency(options) }),
      options,
    );
  }

  getGame(gameId: string, options: ReadOptions = {}) {
    return this.adjudicator.getGame(GetGameRequest.fromPartial({ gameId, ...consistency(options) }), options);
  }

  /** The current policy (version 0) or one version of it. */
  getPolicy(version = 0, options?: CallOptions) {
    return this.adjudicator.getPolicy(GetPolicyRequest.fromPartial({ version }), options);
  }
}
