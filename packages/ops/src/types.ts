import type { Logger, NatsCredentials } from "@pot/event-store";

export type ServiceName = "identity" | "matchmaker" | "adjudicator";

export interface ReplayProgress {
  service: ServiceName;
  /** Events read from the stream and applied to the fresh tables so far. */
  applied: number;
  /** applied plus what the stream still holds for the rebuild. */
  total: number;
  eventsPerSecond: number;
}

export interface TableDigest {
  table: string;
  rows: number;
  /** md5 over the sorted md5 of every row's text: equal tables have equal digests, whatever the row order. */
  digest: string;
}

/** A message of a stream that a replay or an audit could not use, and went past. */
export interface SkippedMessage {
  stream: string;
  seq: number;
  subject: string;
  /** Why: undecodable, or the projection could not apply it (its error). */
  reason: string;
}

export interface ReplayResult {
  service: ServiceName;
  /** Events applied to the fresh tables, up to the moment they were swapped in. */
  events: number;
  /**
   * Messages skipped: undecodable, or that the projection could not apply on their own (as the live
   * runner would have dead-lettered them). The rebuilt tables are as if they were not on the stream.
   */
  skipped: SkippedMessage[];
  /** From the start of the rebuild to the swap. */
  seconds: number;
  /** events / seconds, over the replay itself (reading and applying, not the swap). */
  eventsPerSecond: number;
  /** Digests of the rebuilt tables as they were swapped in. */
  tables: TableDigest[];
}

export interface ReplayOptions {
  natsUrl: string;
  /** A NATS user that may read the stream and create consumers (the admin, or the reader). */
  natsCredentials?: NatsCredentials;
  databaseUrl: string;
  namespace: string;
  service: ServiceName;
  onProgress?: (p: ReplayProgress) => void;
  logger?: Logger;
}

export interface VerifyMismatch {
  /** The stream the event is on; the adjudicator's when absent. */
  stream?: string;
  /** Stream sequence of the event that does not check out. */
  seq: number;
  /** The game it belongs to ("" for a policy event). */
  gameId: string;
  problem: string;
}

export interface VerifyResult {
  /** Events read from the adjudicator's stream. */
  events: number;
  /** Events read from the identity and matchmaker streams for the cross-check. */
  crossChecked?: number;
  /** Games started on it. */
  games: number;
  /** Stake-period retargets re-derived (rate targeting). */
  retargets: number;
  /** Operator acts whose signatures were re-checked (genesis, bootstraps, agreements, exclusions, rotations, policies). */
  operatorActs?: number;
  /** Messages that could not be decoded or checked at all (each also reported among the mismatches). */
  skipped: number;
  mismatches: VerifyMismatch[];
}
