import type { ColumnType, Selectable } from "kysely";

type Millis = ColumnType<string, string | number, string | number>;

export interface MembersTable {
  member_id: string;
  public_key: Uint8Array;
  status: "active" | "excluded";
  kind: "genesis" | "sponsored" | "controlled";
  sponsor_ids: string[];
  controller_id: string | null;
  game_id: string | null;
  agreement_version: number | null;
  display_name: string;
  admitted_at: Millis;
  credits: number;
  last_seq: Millis;
}

export type MemberRow = Selectable<MembersTable>;

export interface IdentityDatabase {
  members: MembersTable;
}
