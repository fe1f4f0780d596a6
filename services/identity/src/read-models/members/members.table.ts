import type { ColumnType, Selectable } from "kysely";

/** bigint columns: pg returns them as strings. */
export type Int8 = ColumnType<string, string | number, string | number>;

/** One row per member, from its MemberAdmitted, CreditRedeemed and MemberExcluded events. */
export interface MembersTable {
  member_id: string;
  public_key: Uint8Array;
  status: "active" | "excluded";
  kind: "genesis" | "sponsored" | "controlled";
  /** Both sponsors of a sponsored member; empty otherwise. */
  sponsor_ids: string[];
  /** The member whose credit admitted a controlled member. */
  controller_id: string | null;
  /** The game that admitted a sponsored member. */
  game_id: string | null;
  agreement_version: number | null;
  display_name: string;
  admitted_at: Int8;
  credits_redeemed: number;
  /** A sponsored member admitted by a controlled or tainted sponsor (MemberAdmitted.tainted). */
  tainted: ColumnType<boolean, boolean | undefined, boolean>;
  excluded_at: ColumnType<string | null, string | number | null, string | number | null>;
  exclusion_reason: string | null;
  /** Stream sequence of the MemberAdmitted: the listing order. */
  admitted_seq: Int8;
  last_seq: Int8;
}

export type MemberRow = Selectable<MembersTable>;
