import type { ActionSpec, MoveName } from "@pot/mechanism";

export type Move = MoveName;

export interface Sponsor {
  readonly memberId: string;
  readonly publicKey: Uint8Array;
}

export type Side = "a" | "b";

export type Outcome = "both-cooperated" | "a-defected" | "b-defected" | "both-defected" | "no-show" | "cancelled";

export type { ActionSpec };

export function actionKindOf(action: ActionSpec): string {
  return action.type === "admission" ? "admission" : action.kind;
}
