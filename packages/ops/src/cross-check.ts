import { AdmissionKind, Outcome, type Envelope } from "@pot/contracts";
import { admissionForgery, openingEvidenceForgery, resolutionEvidence } from "@pot/wire";
import type { VerifyMismatch } from "./types.js";

type Body = NonNullable<Envelope["event"]>;
type Of<C extends Body["$case"]> = Extract<Body, { $case: C }>["value"];

interface Located<T> {
  readonly seq: number;
  readonly value: T;
}

/**
 * Cross-checks the three streams against each other (issue #11, item 4): what one service did
 * because of another's event must be backed by that event.
 *
 * - every game the adjudicator started was opened by the matchmaker, between the same sponsors;
 * - every game the matchmaker opened is between members the identity stream admitted;
 * - every sponsored admission on the identity stream follows a resolution of its game that admits
 *   that candidate, sponsored by that game's sponsors;
 * - every controlled admission follows a redeemed credit of its controller naming it;
 * - every credit grant matches a credit award of the resolution of its game, and no member redeems
 *   more credits than it was granted.
 *
 * A fully forged game (one the matchmaker never opened) and credits or admissions no resolution
 * justifies are reported as mismatches with the stream they were found on. Events are fed in any
 * order of streams; `finish()` does the checks once all three were read.
 */
export class CrossCheck {
  readonly mismatches: VerifyMismatch[] = [];

  /**
   * With a network id, every event that makes another service act is also re-verified as that
   * service's reaction re-checks it (docs/events.md, "Signatures carried by events"): a GameOpened's
   * opening signatures, a GameResolved's opening and signed moves, a MemberAdmitted's evidence.
   */
  constructor(
    private readonly networkId?: string,
    /**
     * Each stream's last sequence when the check began: an event past it is evidence only (what is
     * wrong with it is not reported; the next run checks it). None: every event is checked.
     */
    private readonly cut?: Readonly<Record<"identity" | "matchmaker" | "adjudicator", number>>,
  ) {}

  private readonly members = new Set<string>();
  private readonly opened = new Map<string, Located<Of<"gameOpened">>>();
  private readonly started = new Map<string, Located<Of<"gameStarted">>>();
  private readonly resolved = new Map<string, Located<Of<"gameResolved">>>();
  private readonly admissions: Located<Of<"memberAdmitted">>[] = [];
  private readonly grants: Located<Of<"creditsGranted">>[] = [];
  private readonly redeems: Located<Of<"creditRedeemed">>[] = [];
  private readonly excluded = new Set<string>();
  private readonly sponsorExclusions: Located<Of<"sponsorExcluded">>[] = [];

  add(stream: "identity" | "matchmaker" | "adjudicator", seq: number, envelope: Envelope): void {
    const body = envelope.event;
    if (body === undefined) return;
    switch (body.$case) {
      case "networkBootstrapped":
        // Genesis members are admitted by MemberAdmitted (kind genesis) events of their own too.
        return;
      case "memberAdmitted": {
        if (stream !== "identity") return this.misplaced(stream, seq, envelope);
        const forgery = this.networkId === undefined ? undefined : admissionForgery(this.networkId, body.value);
        if (forgery)
          this.report(
            "identity",
            seq,
            body.value.gameId,
            `unjustified MemberAdmitted of ${body.value.memberId}: ${forgery}`,
          );
        this.members.add(body.value.memberId);
        this.admissions.push({ seq, value: body.value });
        return;
      }
      case "memberExcluded":
        if (stream !== "identity") return this.misplaced(stream, seq, envelope);
        this.excluded.add(body.value.memberId);
        return;
      case "sponsorExcluded":
        if (stream !== "matchmaker") return this.misplaced(stream, seq, envelope);
        this.sponsorExclusions.push({ seq, value: body.value });
        return;
      case "creditsGranted":
        if (stream !== "identity") return this.misplaced(stream, seq, envelope);
        this.grants.push({ seq, value: body.value });
        return;
      case "creditRedeemed":
        if (stream !== "identity") return this.misplaced(stream, seq, envelope);
        this.redeems.push({ seq, value: body.value });
        return;
      case "gameOpened":
        if (stream !== "matchmaker") return this.misplaced(stream, seq, envelope);
        if (this.networkId !== undefined) {
          const forgery = openingEvidenceForgery(this.networkId, body.value);
          if (forgery) this.report("matchmaker", seq, body.value.gameId, `unsigned GameOpened: ${forgery}`);
        }
        this.opened.set(body.value.gameId, { seq, value: body.value });
        return;
      case "gameStarted":
        if (stream !== "adjudicator") return this.misplaced(stream, seq, envelope);
        this.started.set(body.value.gameId, { seq, value: body.value });
        return;
      case "gameResolved":
        if (stream !== "adjudicator") return this.misplaced(stream, seq, envelope);
        if (this.networkId !== undefined) {
          const { forgery } = resolutionEvidence(this.networkId, body.value);
          if (forgery) this.report("adjudicator", seq, body.value.gameId, `unjustified GameResolved: ${forgery}`);
        }
        // A game's first resolution is the one checked here; a later one is itself a forgery, which the
        // decider reports (after the game was resolved), and must not hide what the first one did.
        if (!this.resolved.has(body.value.gameId)) this.resolved.set(body.value.gameId, { seq, value: body.value });
        return;
      default:
        return;
    }
  }

  finish(): VerifyMismatch[] {
    for (const [gameId, { seq, value }] of this.started) {
      const opened = this.opened.get(gameId);
      if (opened === undefined) {
        this.report("adjudicator", seq, gameId, "forged game: the matchmaker's stream never opened it");
        continue;
      }
      const sponsors = (v: { sponsorA?: { memberId: string }; sponsorB?: { memberId: string } }) =>
        `${v.sponsorA?.memberId ?? ""},${v.sponsorB?.memberId ?? ""}`;
      if (sponsors(value) !== sponsors(opened.value)) {
        this.report(
          "adjudicator",
          seq,
          gameId,
          `started between ${sponsors(value)}, but the matchmaker opened it between ${sponsors(opened.value)}`,
        );
      }
      // The stake period GameStarted records (0: not recorded, an older event) is the one the opening locked.
      const locked = opened.value.stakeLockedUntilMs - opened.value.openedAtMs;
      if (value.stakePeriodMs !== 0n && value.stakePeriodMs !== locked) {
        this.report(
          "adjudicator",
          seq,
          gameId,
          `started with a stake period of ${value.stakePeriodMs} ms, but the matchmaker locked the stakes for ${locked} ms`,
        );
      }
    }
    for (const [gameId, { seq, value }] of this.opened) {
      for (const sponsor of [value.sponsorA, value.sponsorB]) {
        if (sponsor !== undefined && !this.members.has(sponsor.memberId)) {
          this.report("matchmaker", seq, gameId, `opened with sponsor ${sponsor.memberId}, who is not a member`);
        }
      }
    }
    // A game is cancelled only because the matchmaker excluded one of its sponsors, on identity's word.
    const cancelledBy = new Map<string, string>();
    for (const { seq, value } of this.sponsorExclusions) {
      if (!this.excluded.has(value.memberId)) {
        this.report("matchmaker", seq, "", `forged exclusion: identity never excluded member ${value.memberId}`);
      }
      for (const gameId of value.cancelledProposalIds) {
        const opened = this.opened.get(gameId)?.value;
        const sponsors = [opened?.sponsorA?.memberId, opened?.sponsorB?.memberId];
        if (opened !== undefined && !sponsors.includes(value.memberId)) {
          this.report(
            "matchmaker",
            seq,
            gameId,
            `the exclusion of ${value.memberId} cancels a game that member does not play`,
          );
        } else {
          cancelledBy.set(gameId, value.memberId);
        }
      }
    }
    for (const [gameId, { seq, value }] of this.resolved) {
      if (value.outcome === Outcome.OUTCOME_CANCELLED && !cancelledBy.has(gameId)) {
        this.report("adjudicator", seq, gameId, "forged cancellation: no exclusion of a sponsor cancelled the game");
      }
    }
    const redeemed = new Map<string, number>();
    for (const { seq, value } of this.redeems) {
      redeemed.set(value.memberId, (redeemed.get(value.memberId) ?? 0) + 1);
      const granted = this.grants
        .filter((grant) => grant.value.memberId === value.memberId && grant.seq < seq)
        .reduce((sum, grant) => sum + grant.value.count, 0);
      if ((redeemed.get(value.memberId) ?? 0) > granted) {
        this.report("identity", seq, "", `member ${value.memberId} redeemed more credits than it was granted`);
      }
    }
    for (const { seq, value } of this.grants) {
      const resolution = this.resolved.get(value.gameId);
      const award = resolution?.value.credits.find((credit) => credit.memberId === value.memberId);
      if (award === undefined) {
        this.report(
          "identity",
          seq,
          value.gameId,
          `forged credits: ${value.count} granted to ${value.memberId}, but no resolution of the game awards them`,
        );
      } else if (award.count !== value.count) {
        this.report(
          "identity",
          seq,
          value.gameId,
          `${value.count} credits granted to ${value.memberId}, the resolution awards ${award.count}`,
        );
      }
    }
    for (const { seq, value } of this.admissions) {
      switch (value.kind) {
        case AdmissionKind.ADMISSION_KIND_GENESIS:
          break;
        case AdmissionKind.ADMISSION_KIND_SPONSORED: {
          const resolution = this.resolved.get(value.gameId)?.value;
          const candidate =
            resolution?.action?.action?.$case === "admission"
              ? Buffer.from(resolution.action.action.value.consent?.candidatePublicKey ?? []).toString("hex")
              : undefined;
          if (resolution === undefined || !resolution.admitted || candidate !== value.memberId) {
            this.report(
              "identity",
              seq,
              value.gameId,
              `forged admission: ${value.memberId} admitted as sponsored, but no resolution of game ${value.gameId || "(none)"} admits it`,
            );
            break;
          }
          const sponsors = [resolution.sponsorA?.memberId, resolution.sponsorB?.memberId].sort().join(",");
          if ([...value.sponsorIds].sort().join(",") !== sponsors) {
            this.report(
              "identity",
              seq,
              value.gameId,
              `${value.memberId} admitted with sponsors other than the game's`,
            );
          }
          break;
        }
        case AdmissionKind.ADMISSION_KIND_CONTROLLED: {
          const redeem = this.redeems.find(
            (r) => r.value.memberId === value.controllerId && r.value.admittedMemberId === value.memberId,
          );
          if (redeem === undefined || redeem.seq > seq) {
            this.report(
              "identity",
              seq,
              "",
              `forged admission: ${value.memberId} admitted as controlled by ${value.controllerId}, who redeemed no credit for it`,
            );
          }
          break;
        }
        default:
          this.report("identity", seq, "", `${value.memberId} admitted with unknown kind ${value.kind}`);
      }
    }
    return this.mismatches;
  }

  private misplaced(stream: string, seq: number, envelope: Envelope): void {
    this.report(stream, seq, envelope.aggregateId, `${envelope.type} does not belong on the ${stream} stream`);
  }

  private report(stream: string, seq: number, gameId: string, problem: string): void {
    const until = this.cut?.[stream as keyof NonNullable<typeof this.cut>];
    if (until !== undefined && seq > until) return;
    this.mismatches.push({ stream, seq, gameId, problem });
  }
}
