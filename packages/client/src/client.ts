import {
  GetAgreementRequest,
  GetGameRequest,
  GetMemberRequest,
  GetPolicyRequest,
  GetProposalRequest,
  GetStakeRequest,
  type Action,
  type Consent,
} from "@pot/contracts";
import { sameBytes, type KeyPair, type Policy } from "@pot/mechanism";
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
  consentOf,
  excludeRequest,
  proposeRequest,
  rotateOperatorKeysRequest,
  publishAgreementRequest,
  publishPolicyRequest,
  redeemRequest,
  revealRequest,
  type Answer,
  type ConsentContext,
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

  private network: Promise<string> | undefined;
  private readonly operators: readonly KeyPair[] | (() => Promise<readonly KeyPair[]>);

  /**
   * `networkId`: the network every signature names. When omitted it is read once from identity
   * (GetAgreement) at the first signed call; pass it to sign offline or to refuse a wrong deployment.
   * `operators`: the operator keys this client signs operator acts with (a quorum of the current set).
   */
  constructor(
    private readonly connections: Connections,
    options: { networkId?: string; operators?: readonly KeyPair[] | (() => Promise<readonly KeyPair[]>) } = {},
  ) {
    this.identity = connections.identity;
    this.matchmaker = connections.matchmaker;
    this.adjudicator = connections.adjudicator;
    if (options.networkId !== undefined) this.network = Promise.resolve(options.networkId);
    this.operators = options.operators ?? [];
  }

  static connect(
    addresses: ServiceAddresses,
    options: ConnectOptions & {
      networkId?: string;
      operators?: readonly KeyPair[] | (() => Promise<readonly KeyPair[]>);
    } = {},
  ): PotClient {
    return new PotClient(connect(addresses, options), {
      ...(options.networkId !== undefined ? { networkId: options.networkId } : {}),
      ...(options.operators !== undefined ? { operators: options.operators } : {}),
    });
  }

  /** The operator keys to sign with: `signers` when given, else the client's; refuses none. */
  private async signers(signers: readonly KeyPair[] | undefined): Promise<readonly KeyPair[]> {
    const keys = signers ?? (typeof this.operators === "function" ? await this.operators() : this.operators);
    if (keys.length === 0) {
      throw new Error("an operator act must be signed: give the client operator keys (operators) or pass signers");
    }
    return keys;
  }

  /** The network id and the agreement in force now (version, hash, uri): what a consent names. */
  getAgreement(options?: CallOptions) {
    return this.identity.getAgreement(GetAgreementRequest.fromPartial({}), options);
  }

  /** The network id every signed request names (given to the constructor, else read once from identity). */
  networkId(options?: CallOptions): Promise<string> {
    if (!this.network) {
      const pending = this.getAgreement(options).then((answer) => answer.networkId);
      pending.catch(() => {
        if (this.network === pending) this.network = undefined;
      });
      this.network = pending;
    }
    return this.network;
  }

  /**
   * The candidate's consent to the current agreement, bound to `context` (a proposal id or a controller
   * id, and an expiry): reads the network id and the agreement from identity, then signs with the candidate's key.
   */
  async consent(candidate: Member, context: ConsentContext, options?: CallOptions) {
    const answer = await this.getAgreement(options);
    if (!answer.bootstrapped || !answer.agreement) {
      throw new Error("the network has not been bootstrapped: it has no agreement to consent to yet");
    }
    return consentOf(answer.networkId, candidate, answer.agreement, context);
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

  /**
   * Operator: start the network from its genesis members and legal agreement. `networkId` names the
   * network (it must be the services' POT_NETWORK_ID); by default the one identity is configured with.
   */
  async bootstrap(
    members: readonly { publicKey: Uint8Array; displayName?: string }[],
    agreement: { hash: Uint8Array; uri: string },
    options: {
      force?: boolean;
      requestId?: string;
      networkId?: string;
      signers?: readonly KeyPair[];
      /** Genesis: the operator keys to name (default: the signers') and the threshold (default: all). */
      operatorKeys?: readonly Uint8Array[];
      operatorThreshold?: number;
    } & CallOptions = {},
  ) {
    const answer = await this.getAgreement(options);
    const networkId = options.networkId ?? answer.networkId;
    const request = bootstrapRequest(networkId, members, agreement, {
      ...(options.force !== undefined ? { force: options.force } : {}),
      ...(options.requestId !== undefined ? { requestId: options.requestId } : {}),
      ...(options.operatorKeys !== undefined ? { operatorKeys: options.operatorKeys } : {}),
      ...(options.operatorThreshold !== undefined ? { operatorThreshold: options.operatorThreshold } : {}),
      signers: await this.signers(options.signers),
      bootstrapsBefore: answer.bootstraps,
    });
    return this.identity.bootstrap(request, options);
  }

  /**
   * Operator: replace the operator keys by `keys` (M = `threshold`), signed by the current quorum
   * (`signers`, else the client's operator keys).
   */
  async rotateOperatorKeys(
    keys: readonly Uint8Array[],
    threshold: number,
    options: { requestId?: string; signers?: readonly KeyPair[] } & CallOptions = {},
  ) {
    const answer = await this.getAgreement(options);
    const current = answer.operators?.version ?? 0;
    const request = rotateOperatorKeysRequest(
      answer.networkId,
      current,
      keys,
      threshold,
      await this.signers(options.signers),
      options.requestId,
    );
    return this.identity.rotateOperatorKeys(request, options);
  }

  /** For an admission, the proposal id defaults to the one the candidate's consent names. */
  async propose(
    proposer: Member,
    partnerId: string,
    action: Action,
    options: { proposalId?: string } & CallOptions = {},
  ) {
    const request = proposeRequest(await this.networkId(options), proposer, partnerId, action, options.proposalId);
    return this.matchmaker.propose(request, options);
  }

  async accept(member: Member, proposalId: string, options?: CallOptions) {
    return this.matchmaker.accept(answerRequest(await this.networkId(options), "accept", member, proposalId), options);
  }

  async decline(member: Member, proposalId: string, options?: CallOptions) {
    return this.matchmaker.decline(
      answerRequest(await this.networkId(options), "decline", member, proposalId),
      options,
    );
  }

  async cancel(member: Member, proposalId: string, options?: CallOptions) {
    return this.matchmaker.cancel(answerRequest(await this.networkId(options), "cancel", member, proposalId), options);
  }

  answer(answer: Answer, member: Member, proposalId: string, options?: CallOptions) {
    return answer === "accept"
      ? this.accept(member, proposalId, options)
      : answer === "decline"
        ? this.decline(member, proposalId, options)
        : this.cancel(member, proposalId, options);
  }

  /** Sends the commitment of a sealed move; keep `sealed` (move and nonce) for the reveal. */
  async commit(member: Member, gameId: string, sealed: SealedMove, options?: CallOptions) {
    return this.adjudicator.commitMove(commitRequest(await this.networkId(options), member, gameId, sealed), options);
  }

  async reveal(member: Member, gameId: string, sealed: SealedMove, options?: CallOptions) {
    return this.adjudicator.revealMove(revealRequest(await this.networkId(options), member, gameId, sealed), options);
  }

  /**
   * Spends one of the member's admission credits on the identity that signed `consent` (which must
   * name this member as its controller).
   */
  async redeemCredit(member: Member, consent: Consent, options: { requestId?: string } & CallOptions = {}) {
    const request = redeemRequest(await this.networkId(options), member, consent, options.requestId);
    return this.identity.redeemCredit(request, options);
  }

  /** Operator: exclude a member for a violation of the agreement. */
  async exclude(
    memberId: string,
    reason: string,
    options: { requestId?: string; signers?: readonly KeyPair[] } & CallOptions = {},
  ) {
    const request = excludeRequest(
      await this.networkId(options),
      memberId,
      reason,
      await this.signers(options.signers),
      options.requestId,
    );
    return this.identity.exclude(request, options);
  }

  /**
   * Operator: validate and publish a new policy version (its `version` is assigned by the adjudicator:
   * the current one + 1, read with GetPolicy, which the signatures name).
   */
  async publishPolicy(
    policy: Policy,
    options: { requestId?: string; signers?: readonly KeyPair[] } & CallOptions = {},
  ) {
    const current = await this.adjudicator.getPolicy(GetPolicyRequest.fromPartial({ version: 0 }), options);
    const version = (current.policy?.version ?? 0) + 1;
    const request = publishPolicyRequest(
      await this.networkId(options),
      policy,
      version,
      await this.signers(options.signers),
      options.requestId,
    );
    return this.adjudicator.publishPolicy(request, options);
  }

  /** Operator: publish a new version of the legal agreement. */
  async publishAgreement(
    agreement: { hash: Uint8Array; uri: string },
    options: { requestId?: string; signers?: readonly KeyPair[] } & CallOptions = {},
  ) {
    const answer = await this.getAgreement(options);
    const current = answer.agreement;
    const version =
      current === undefined ? 0 : sameBytes(current.hash, agreement.hash) ? current.version : current.version + 1;
    const request = publishAgreementRequest(
      answer.networkId,
      agreement,
      version,
      await this.signers(options.signers),
      options.requestId,
    );
    return this.identity.publishAgreement(request, options);
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
