import type { CommandResult } from "./commands.js";
import type { FullStackResult } from "./full-stack.js";
import type { PingResult, PipelineResult, PublishResult, ReadResult, UpsertResult, VerifyResult } from "./limits.js";
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
  /** Old denominator: the ping's client in the bench process, which also runs the load. */
  readonly grpcPing: PingResult;
  /** New denominator: the ping's client in a process of its own (two processes). */
  readonly grpcPingTwoProcess: PingResult;
  /** Old denominator: js.publish, 256 in flight. */
  readonly jetStreamPublish: PublishResult;
  /** New denominator: plain publishes with reply subjects on one wildcard subscription, pipelined. */
  readonly jetStreamPipelinedPublish: PublishResult;
  /** Publishes without acks (the broker's own store rate; the bench uses it to write synthetic streams). */
  readonly jetStreamIngest: ReadResult;
  readonly jetStreamRead: ReadResult;
  readonly postgresUpsert: UpsertResult;
  /** Old denominator: ordered-consumer read, decode and 500-row upserts with the checkpoint, overlapped. */
  readonly readUpsertPipeline: UpsertResult;
  /** New denominator: the rebuild pipeline (fold per entity, 5,000 events per transaction, one in flight), same events. */
  readonly rebuildPipeline: PipelineResult;
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
    /** The rebuild pipeline on the same log, measured just before this rebuild (events/s). */
    readonly pipelineRate: number;
    /** The old yardstick (500-row read + upsert pipeline on the limits stream), measured next to it. */
    readonly oldPipelineRate: number;
    /** outcome.rate over those pipelines, and over the read and upsert limits of the limits section. */
    readonly ratioToPipeline: number;
    readonly ratioToOldPipeline: number;
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
