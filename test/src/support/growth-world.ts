import { decideGame, evolveGame, initialGameState, type GameEvent, type GameState } from "@pot/adjudicator/domain";
import {
  availableCredits,
  decideMember,
  evolveMember,
  initialMemberState,
  taintedBy,
  type MemberCommand,
  type MemberState,
} from "@pot/identity/domain";
import {
  decideLedger,
  evolveLedger,
  initialLedgerState,
  type LedgerCommand,
  type LedgerState,
  type SponsorAdmission,
} from "@pot/matchmaker/domain";
import {
  actionDigest,
  answerPayload,
  commitmentOf,
  commitPayload,
  consentPayload,
  generateKeyPair,
  isPotError,
  memberIdOf,
  proposePayload,
  redeemPayload,
  revealPayload,
  sign,
  type ActionSpec,
  type KeyPair,
  type MoveName,
  type Policy,
  NO_OPENING,
} from "@pot/mechanism";

/**
 * The three services' pure deciders wired together as the reactions wire them (matchmaker opens a
 * game, the adjudicator resolves it, identity admits and grants, the matchmaker registers and
 * settles), on a simulated clock, without any server. Every act goes through a decider and is
 * signed like a real request; a refusal (a PotError) is counted by its rule, never bypassed.
 */

export type Owner = "honest" | "attacker";

export interface Refusal {
  readonly name: string;
  readonly message: string;
}

const AGREEMENT = { version: 1, hash: new Uint8Array(32).fill(7), uri: "https://example.org/agreement" };
const NETWORK = "growth-world";
/** How long a candidate's consent is valid for, from the act it is signed for. */
const CONSENT_TTL_MS = 30 * 86_400_000;

export class GrowthWorld {
  ledger: LedgerState = initialLedgerState;
  readonly members = new Map<string, MemberState>();
  readonly keys = new Map<string, KeyPair>();
  readonly owners = new Map<string, Owner>();
  readonly refusals = new Map<string, number>();
  /** The last move each member's previous opponent played against it (for tit-for-tat). */
  readonly lastOpponentMove = new Map<string, MoveName>();
  private ids = 0;
  private spare: KeyPair | undefined;

  constructor(
    readonly policy: Policy,
    readonly start: number,
  ) {
    this.ledger = this.applyLedger({ type: "AdoptPolicy", policy });
    this.ledger = this.applyLedger({ type: "AdoptAgreement", agreement: AGREEMENT });
  }

  /** Members of one owner, in admission order. */
  owned(owner: Owner): string[] {
    return [...this.owners].filter(([, o]) => o === owner).map(([id]) => id);
  }

  genesis(count: number, owner: Owner): string[] {
    return Array.from({ length: count }, () => {
      const keys = generateKeyPair();
      const id = memberIdOf(keys.publicKey);
      this.admit(keys, owner, { kind: "genesis", sponsorIds: [], controllerId: "", admittedAt: this.start }, "");
      return id;
    });
  }

  /**
   * Proposer and partner play one admission game over a fresh candidate of `candidateOwner`, with
   * the given moves, from `now`: propose, accept, commit, reveal. Returns the outcome, or the refusal
   * that stopped it (the proposal is then cancelled by its proposer if it was made).
   */
  play(
    proposerId: string,
    partnerId: string,
    candidateOwner: Owner,
    moves: { proposer: MoveName; partner: MoveName },
    now: number,
  ): { outcome: string } | { refused: Refusal } {
    // A candidate of a refused attempt is kept for the next one (key generation is the slow part).
    const candidate = this.spare ?? generateKeyPair();
    this.spare = candidate;
    const proposalId = this.uuid();
    const terms = {
      candidatePublicKey: candidate.publicKey,
      agreementVersion: AGREEMENT.version,
      agreementHash: AGREEMENT.hash,
      proposalId,
      controllerId: "",
      expiresAtMs: now + CONSENT_TTL_MS,
    };
    const action: ActionSpec = {
      type: "admission",
      candidatePublicKey: candidate.publicKey,
      agreementVersion: AGREEMENT.version,
      agreementHash: AGREEMENT.hash,
      consentProposalId: proposalId,
      consentControllerId: "",
      consentExpiresAtMs: terms.expiresAtMs,
      consentSignature: sign(consentPayload(NETWORK, terms), candidate.secretKey),
    };
    const proposer = this.keys.get(proposerId)!;
    const partner = this.keys.get(partnerId)!;
    const proposed = this.tryLedger({
      type: "Propose",
      networkId: NETWORK,
      proposalId,
      proposerId,
      partnerId,
      action,
      signature: sign(
        proposePayload(NETWORK, proposalId, proposerId, partnerId, actionDigest(action)),
        proposer.secretKey,
      ),
      now,
    });
    if (proposed) return { refused: proposed };
    const accepted = this.tryLedger({
      type: "Accept",
      networkId: NETWORK,
      proposalId,
      memberId: partnerId,
      signature: sign(answerPayload(NETWORK, "accept", proposalId, partnerId), partner.secretKey),
      now: now + 1,
    });
    if (accepted) {
      this.tryLedger({
        type: "Cancel",
        networkId: NETWORK,
        proposalId,
        memberId: proposerId,
        signature: sign(answerPayload(NETWORK, "cancel", proposalId, proposerId), proposer.secretKey),
        now: now + 1,
      });
      return { refused: accepted };
    }
    this.spare = undefined;
    const opened = this.ledger.openGames.get(proposalId)!;
    let game: GameState = initialGameState(proposalId);
    const runGame = (command: Parameters<typeof decideGame>[0]): GameEvent[] => {
      const events = decideGame(command, game);
      game = events.reduce(evolveGame, game);
      return events;
    };
    runGame({
      type: "StartGame",
      gameId: proposalId,
      sponsorA: { memberId: proposerId, publicKey: proposer.publicKey },
      sponsorB: { memberId: partnerId, publicKey: partner.publicKey },
      action,
      policy: this.ledger.policy!,
      openedAt: now + 1,
      stakePeriodMs: this.ledger.slots.get(proposerId)!.lockedUntil - (now + 1),
      opening: NO_OPENING,
    });
    const sides = [
      { id: proposerId, keys: proposer, move: moves.proposer, nonce: new Uint8Array(32).fill(1) },
      { id: partnerId, keys: partner, move: moves.partner, nonce: new Uint8Array(32).fill(2) },
    ];
    for (const side of sides) {
      const commitment = commitmentOf(proposalId, side.id, side.move, side.nonce);
      runGame({
        type: "CommitMove",
        networkId: NETWORK,
        memberId: side.id,
        commitment,
        signature: sign(commitPayload(NETWORK, proposalId, side.id, commitment), side.keys.secretKey),
        now: now + 2,
      });
    }
    let resolution: Extract<GameEvent, { type: "GameResolved" }> | undefined;
    for (const side of sides) {
      for (const event of runGame({
        type: "RevealMove",
        networkId: NETWORK,
        memberId: side.id,
        move: side.move,
        nonce: side.nonce,
        signature: sign(revealPayload(NETWORK, proposalId, side.id, side.move, side.nonce), side.keys.secretKey),
        now: now + 3,
      })) {
        if (event.type === "GameResolved") resolution = event;
      }
    }
    if (!resolution) throw new Error(`game ${proposalId} did not resolve`);
    this.lastOpponentMove.set(proposerId, moves.partner);
    this.lastOpponentMove.set(partnerId, moves.proposer);
    // The reactions, in the order the services run them.
    this.ledger = this.applyLedger({
      type: "SettleGame",
      gameId: opened.gameId,
      sponsorIds: opened.sponsorIds,
      suspensions: resolution.suspensions,
      released: false,
    });
    if (resolution.admitted) {
      const sponsors = [proposerId, partnerId].map((id) => this.members.get(id)!);
      this.admit(
        candidate,
        candidateOwner,
        { kind: "sponsored", sponsorIds: [proposerId, partnerId], controllerId: "", admittedAt: resolution.resolvedAt },
        proposalId,
        taintedBy(sponsors),
      );
    }
    for (const award of resolution.credits) {
      this.applyMember(award.memberId, {
        type: "GrantCredits",
        gameId: proposalId,
        count: award.count,
        expiresAtMs: award.expiresAtMs,
        grantedAt: resolution.resolvedAt,
        ...(award.cap ? { cap: award.cap } : {}),
      });
    }
    return { outcome: resolution.outcome };
  }

  /** Spends every credit the member has on controlled identities of its owner; returns how many. */
  redeemAll(memberId: string, now: number): number {
    let redeemed = 0;
    const keys = this.keys.get(memberId)!;
    while (availableCredits(this.members.get(memberId)!, now) > 0) {
      const candidate = generateKeyPair();
      const requestId = `redeem-${++this.ids}`;
      const terms = {
        candidatePublicKey: candidate.publicKey,
        agreementVersion: AGREEMENT.version,
        agreementHash: AGREEMENT.hash,
        proposalId: "",
        controllerId: memberId,
        expiresAtMs: now + CONSENT_TTL_MS,
      };
      const consent = { ...terms, signature: sign(consentPayload(NETWORK, terms), candidate.secretKey) };
      this.applyMember(memberId, {
        type: "RedeemCredit",
        networkId: NETWORK,
        requestId,
        consent,
        signature: sign(redeemPayload(NETWORK, memberId, candidate.publicKey, requestId), keys.secretKey),
        agreement: AGREEMENT,
        candidateExists: false,
        now,
      });
      this.admit(
        candidate,
        this.owners.get(memberId)!,
        { kind: "controlled", sponsorIds: [], controllerId: memberId, admittedAt: now },
        "",
      );
      redeemed++;
    }
    return redeemed;
  }

  private admit(keys: KeyPair, owner: Owner, admission: SponsorAdmission, gameId: string, tainted = false): void {
    const memberId = memberIdOf(keys.publicKey);
    this.keys.set(memberId, keys);
    this.owners.set(memberId, owner);
    this.applyMember(memberId, {
      type: "Admit",
      memberId,
      publicKey: keys.publicKey,
      kind: admission.kind,
      sponsorIds: admission.sponsorIds,
      controllerId: admission.controllerId,
      gameId,
      consent: undefined,
      displayName: "",
      admittedAt: admission.admittedAt,
      ...(tainted ? { tainted: true } : {}),
    });
    this.ledger = this.applyLedger({ type: "RegisterSponsor", memberId, publicKey: keys.publicKey, admission });
  }

  private applyMember(memberId: string, command: MemberCommand): void {
    const state = this.members.get(memberId) ?? initialMemberState(memberId);
    this.members.set(memberId, decideMember(command, state).reduce(evolveMember, state));
  }

  private applyLedger(command: LedgerCommand): LedgerState {
    return decideLedger(command, this.ledger).reduce(evolveLedger, this.ledger);
  }

  /** Runs a member's ledger command; a domain refusal is counted and returned, anything else thrown. */
  private tryLedger(command: LedgerCommand): Refusal | undefined {
    try {
      this.ledger = this.applyLedger(command);
      return undefined;
    } catch (error) {
      if (!isPotError(error)) throw error;
      const refusal = { name: error.name, message: error.message };
      const rule = ruleOf(error.message);
      this.refusals.set(rule, (this.refusals.get(rule) ?? 0) + 1);
      return refusal;
    }
  }

  private uuid(): string {
    return `00000000-0000-4000-8000-${(++this.ids).toString(16).padStart(12, "0")}`;
  }
}

/** A short name for the rule a refusal names, to count refusals by rule. */
export function ruleOf(message: string): string {
  if (/controlled identity/.test(message)) return "controlled";
  if (/maturity period/.test(message)) return "maturity";
  if (/sponsor quota/.test(message)) return "quota";
  if (/lineage step/.test(message)) return "lineage";
  if (/waiting for an answer/.test(message)) return "pending";
  if (/played together recently|cooling down/.test(message)) return "cooldown";
  if (/suspended/.test(message)) return "suspended";
  if (/staked in game|is playing game/.test(message)) return "staked";
  return "other";
}
