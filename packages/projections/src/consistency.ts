import { setTimeout as sleep } from "node:timers/promises";
import type { JetStreamManager } from "@nats-io/jetstream";
import { isJetStreamNotFound, streamNames, type ServiceName } from "@pot/event-store";
import type { RunningProjection } from "./read-models.js";

export interface ConsistencyGateOptions {
  readonly jsm: JetStreamManager;
  readonly namespace: string;
  /** The service the gate answers for. */
  readonly service: ServiceName;
  /** The service's projection runners, by the stream each applies. */
  readonly projections: readonly RunningProjection[];
  /** The durable consumers through which the service reacts to a stream (its own included). */
  readonly reactions: readonly { readonly source: ServiceName; readonly durable: string }[];
}

/** Polling bounds while waiting for a reaction consumer's acknowledgements. */
const POLL_MIN_MS = 2;
const POLL_MAX_MS = 50;

/**
 * Decides when a service's read models reflect an event of some stream, and everything the service
 * did in reaction to it, for read-your-writes across services (a consistency token "<stream>:<seq>"):
 *
 * 1. every projection that applies that stream has applied `seq`;
 * 2. every reaction to that stream has handled everything up to `seq`: its durable consumer has
 *    acknowledged through `seq` (JetStream's ack floor), or has nothing pending at all;
 * 3. then the projections of the service's own stream have applied everything on that stream at
 *    that moment, which includes whatever the reactions appended.
 *
 * Step 2 asks JetStream, with a short growing pause between questions, because the reactor's
 * handled-through mark lives in its consumer; steps 1 and 3 wait on the runners without polling.
 */
export class ConsistencyGate {
  private readonly own: readonly RunningProjection[];

  constructor(private readonly options: ConsistencyGateOptions) {
    this.own = options.projections.filter((p) => p.source === options.service);
  }

  /** The read model of the service's own stream, as `min_sequence` waits for it. */
  get projection() {
    const own = this.own;
    return {
      position: () => Math.min(...own.map((p) => p.runner.position())),
      waitFor: async (seq: number, timeoutMs: number) =>
        (await Promise.all(own.map((p) => p.runner.waitFor(seq, timeoutMs)))).every(Boolean),
    };
  }

  follows(stream: string): boolean {
    return (
      stream === this.options.service ||
      this.options.projections.some((p) => p.source === stream) ||
      this.options.reactions.some((r) => r.source === stream)
    );
  }

  async waitFor(target: { stream: string; seq: number }, timeoutMs: number): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    const remaining = () => Math.max(0, deadline - Date.now());
    for (const { source, name, runner } of this.options.projections) {
      if (source !== target.stream) continue;
      if (!(await runner.waitFor(target.seq, remaining()))) {
        return `the ${name} read model has applied the ${source} stream up to ${runner.position()}, not yet ${target.seq}`;
      }
    }
    const reactions = this.options.reactions.filter((r) => r.source === target.stream);
    if (reactions.length === 0) return undefined;
    for (const reaction of reactions) {
      if (!(await this.handled(reaction, target.seq, deadline))) {
        return `the ${this.options.service} service has not yet handled ${target.stream} event ${target.seq}`;
      }
    }
    const ownStream = streamNames(this.options.namespace, this.options.service).stream;
    const appended = (await this.options.jsm.streams.info(ownStream)).state.last_seq;
    for (const { name, runner } of this.own) {
      if (!(await runner.waitFor(appended, remaining()))) {
        return `the ${name} read model has applied up to ${runner.position()}, not yet ${appended}`;
      }
    }
    return undefined;
  }

  /** True once the reaction's durable consumer has acknowledged everything up to `seq`. */
  private async handled(reaction: { source: ServiceName; durable: string }, seq: number, deadline: number) {
    const stream = streamNames(this.options.namespace, reaction.source).stream;
    for (let pause = POLL_MIN_MS; ; pause = Math.min(pause * 2, POLL_MAX_MS)) {
      try {
        const info = await this.options.jsm.consumers.info(stream, reaction.durable);
        if (info.ack_floor.stream_seq >= seq) return true;
        if (info.num_ack_pending === 0 && info.num_pending === 0) return true;
      } catch (error) {
        // The reaction has not started yet (the services start in any order): not handled.
        if (!isJetStreamNotFound(error)) throw error;
      }
      if (Date.now() + pause > deadline) return false;
      await sleep(pause);
    }
  }
}
