import type { CommandResult } from "./commands.js";
import type { FullStackResult } from "./full-stack.js";
import type { PingResult, PublishResult, ReadResult, UpsertResult, VerifyResult } from "./limits.js";
import type { ProfileSummary } from "./profile.js";
import type { UsageReport } from "./proc.js";
import type { RebuildOutcome } from "./rebuild-child.js";
import type { SyntheticStream } from "./rebuild.js";

export interface Meta {
  readonly mode: "full" | "quick";
  readonly command: string;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly node: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGb: number;
  readonly commit: string;
  readonly natsUrl: string;
  readonly postgres: string;
  readonly namespace: string;
  readonly database: string;
  /** Sections run, and the time each took. */
  readonly sectionMs: Record<string, number>;
}

export interface Limits {
  readonly grpcPing: PingResult;
  readonly jetStreamPublish: PublishResult;
  /** Publishes without acks (the broker's own store rate; the bench uses it to write synthetic streams). */
  readonly jetStreamIngest: ReadResult;
  readonly jetStreamRead: ReadResult;
  readonly postgresUpsert: UpsertResult;
  /** Ordered-consumer read, decode and batched upsert with the checkpoint, overlapped: an ideal projection. */
  readonly readUpsertPipeline: UpsertResult;
  /** Ed25519 verifications per second on one core (every command checks one or two signatures). */
  readonly signatureVerify: VerifyResult;
  readonly usage: UsageReport;
}

export interface ProfileResult {
  readonly concurrency: number;
  readonly ms: number;
  readonly gamesPerSecond: number;
  readonly services: Record<string, ProfileSummary>;
  readonly usage: UsageReport;
}

export interface RebuildResult {
  readonly streams: readonly SyntheticStream[];
  readonly runs: readonly {
    /** Events in the log the projection was rebuilt from. */
    readonly logEvents: number;
    readonly outcome: RebuildOutcome;
    readonly usage: UsageReport;
    /** The read + upsert pipeline, measured again just before this rebuild (events/s). */
    readonly pipelineRate: number;
    /** outcome.rate over that pipeline, and over the read and upsert limits of the limits section. */
    readonly ratioToPipeline: number;
    readonly ratioToRead: number;
    readonly ratioToUpsert: number;
  }[];
  readonly profiles: Record<string, ProfileSummary>;
  /** Why the longer log was not rebuilt, when it was not. */
  readonly longerSkipped?: string;
}

export interface Target {
  readonly name: string;
  readonly goal: string;
  readonly measured: string;
  /** undefined when the run could not measure it. */
  readonly met: boolean | undefined;
}

export interface BenchResults {
  readonly meta: Meta;
  readonly limits?: Limits;
  readonly fullStack?: FullStackResult;
  readonly profile?: ProfileResult;
  readonly commands?: readonly CommandResult[];
  readonly rebuild?: RebuildResult;
  readonly targets: readonly Target[];
  readonly whatLimitsUs: readonly string[];
}
