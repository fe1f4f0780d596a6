import type { MoveName } from "@pot/mechanism";
import type { GameResolved, MemberAdmitted } from "./world.js";

export type MemberKind = "genesis" | "sponsored" | "controlled";

/** What anyone reading the public streams knows of one member. */
export interface PublicRecord {
  readonly kind: MemberKind;
  readonly parents: readonly string[];
  /** Admitted by a game with a controlled or tainted sponsor (identity's own mark when it sets one). */
  tainted: boolean;
  excluded: boolean;
  lastMove: MoveName | undefined;
  /** Defected in a game it proposed: it denied its own candidate (a credit harvest). */
  defectedAsProposer: number;
  /** Defected as the partner while the proposer cooperated (denied someone's candidate and took credits). */
  denials: number;
  /** Its own candidate was denied by a partner. */
  wasDenied: number;
  noShows: number;
}

/**
 * One member's record of the resolved games with one partner, from the member's side: the adjudicator's
 * trust edge (GetTrustEdges), reduced to what partner choice reads.
 */
export interface TrustEdge {
  games: number;
  mutualCooperations: number;
  /** Games in which the partner defected. */
  partnerDefections: number;
  /** Games the partner failed to show up for. */
  partnerNoShows: number;
}

/**
 * The public trust state the honest members read before they stake with someone: a projection of the
 * events every downstream system sees (MemberAdmitted, GameResolved, MemberExcluded). Its verdict,
 * `clean`, is the honest members' partner rule (docs/mechanism.md, "Agents"):
 *
 * - never a controlled identity, nor one tainted by a controlled or tainted sponsor, nor an excluded one;
 * - never a member who failed to show up, or who defected on a candidate it proposed itself;
 * - not after two denials of other members' candidates (an honest member denies a fake it recognises,
 *   rarely twice), nor after two of its own candidates were denied;
 * - lineage: never a member one of whose parents (sponsors or controller) is excluded or failed those
 *   behaviour rules.
 *
 * It also keeps the trust edges (each member's record with each partner it played): a member never
 * stakes again with a partner who defected on it or failed to show up, and prefers partners it has
 * cooperated with (`friends`).
 */
export class TrustBoard {
  readonly records = new Map<string, PublicRecord>();
  /** memberId -> partnerId -> the edge, from memberId's side. */
  readonly edges = new Map<string, Map<string, TrustEdge>>();

  admitted(event: MemberAdmitted & { readonly tainted?: boolean }): void {
    const parents = event.kind === "controlled" ? [event.controllerId] : [...event.sponsorIds];
    const taintedByParents =
      event.kind === "sponsored" &&
      parents.some((id) => {
        const parent = this.records.get(id);
        return parent !== undefined && (parent.kind === "controlled" || parent.tainted);
      });
    this.records.set(event.memberId, {
      kind: event.kind,
      parents,
      tainted: event.tainted === true || taintedByParents,
      excluded: false,
      lastMove: undefined,
      defectedAsProposer: 0,
      denials: 0,
      wasDenied: 0,
      noShows: 0,
    });
  }

  excluded(memberId: string): void {
    const record = this.records.get(memberId);
    if (record) record.excluded = true;
  }

  resolved(event: GameResolved): void {
    const a = this.records.get(event.sponsorA.memberId);
    const b = this.records.get(event.sponsorB.memberId);
    if (!a || !b) return;
    for (const id of event.noShowIds) {
      const record = this.records.get(id);
      if (record) record.noShows++;
    }
    const { moveA, moveB } = event;
    const idA = event.sponsorA.memberId;
    const idB = event.sponsorB.memberId;
    if (event.outcome !== "cancelled") {
      const fromA = this.edge(idA, idB);
      const fromB = this.edge(idB, idA);
      fromA.games++;
      fromB.games++;
      if (event.noShowIds.includes(idB)) fromA.partnerNoShows++;
      if (event.noShowIds.includes(idA)) fromB.partnerNoShows++;
      if (moveA === "cooperate" && moveB === "cooperate" && event.outcome === "both-cooperated") {
        fromA.mutualCooperations++;
        fromB.mutualCooperations++;
      }
      if (moveB === "defect") fromA.partnerDefections++;
      if (moveA === "defect") fromB.partnerDefections++;
    }
    if (event.outcome === "no-show" || event.outcome === "cancelled" || !moveA || !moveB) return;
    a.lastMove = moveA;
    b.lastMove = moveB;
    if (moveA === "defect") a.defectedAsProposer++;
    if (moveA === "cooperate" && moveB === "defect") {
      b.denials++;
      a.wasDenied++;
    }
  }

  /** Misbehaviour that makes a member, and the members it sponsors or controls, untrustworthy. */
  private misbehaved(record: PublicRecord): boolean {
    return record.excluded || record.noShows > 0 || record.defectedAsProposer > 0;
  }

  clean(memberId: string): boolean {
    const record = this.records.get(memberId);
    if (!record) return false;
    if (record.kind === "controlled" || record.tainted || this.misbehaved(record)) return false;
    if (record.denials >= 2 || record.wasDenied >= 2) return false;
    for (const parent of record.parents) {
      const parentRecord = this.records.get(parent);
      if (parentRecord && this.misbehaved(parentRecord)) return false;
    }
    return true;
  }

  private edge(memberId: string, partnerId: string): TrustEdge {
    let edges = this.edges.get(memberId);
    if (!edges) this.edges.set(memberId, (edges = new Map()));
    let edge = edges.get(partnerId);
    if (!edge)
      edges.set(partnerId, (edge = { games: 0, mutualCooperations: 0, partnerDefections: 0, partnerNoShows: 0 }));
    return edge;
  }

  /** The member's edge with the partner, if they ever played. */
  edgeOf(memberId: string, partnerId: string): TrustEdge | undefined {
    return this.edges.get(memberId)?.get(partnerId);
  }

  /** Whether the member would stake with the partner: clean, and it never defected on or failed the member. */
  trusts(memberId: string, partnerId: string): boolean {
    if (!this.clean(partnerId)) return false;
    const edge = this.edgeOf(memberId, partnerId);
    return edge === undefined || (edge.partnerDefections === 0 && edge.partnerNoShows === 0);
  }

  /** The partners the member cooperated with in a game both cooperated in, in the order they first played. */
  friends(memberId: string): string[] {
    const edges = this.edges.get(memberId);
    if (!edges) return [];
    const out: string[] = [];
    for (const [partnerId, edge] of edges) if (edge.mutualCooperations > 0) out.push(partnerId);
    return out;
  }

  lastMove(memberId: string): MoveName | undefined {
    return this.records.get(memberId)?.lastMove;
  }
}
