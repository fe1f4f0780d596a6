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
 */
export class TrustBoard {
  readonly records = new Map<string, PublicRecord>();

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

  lastMove(memberId: string): MoveName | undefined {
    return this.records.get(memberId)?.lastMove;
  }
}
