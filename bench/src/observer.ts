import { DeliverPolicy, jetstream, type ConsumerMessages } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { aggregateIdOf, EVENT_TYPE_HEADER, streamNames } from "@pot/event-store";

/** Values announced by key, awaited by key; an announcement may come before anyone waits. */
export class Signals<V> {
  private readonly early = new Map<string, V>();
  private readonly waiting = new Map<string, (value: V) => void>();

  fire(key: string, value: V): void {
    const resolve = this.waiting.get(key);
    if (resolve) {
      this.waiting.delete(key);
      resolve(value);
    } else this.early.set(key, value);
  }

  wait(key: string, timeoutMs: number, what: string): Promise<V> {
    const value = this.early.get(key);
    if (value !== undefined) {
      this.early.delete(key);
      return Promise.resolve(value);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiting.set(key, (found) => {
        clearTimeout(timer);
        resolve(found);
      });
    });
  }

  forget(key: string): void {
    this.early.delete(key);
  }
}

/**
 * Follows the services' streams as a downstream system would (ordered consumers from "now"): a
 * game is started once GameStarted is stored on the adjudicator's stream, and a candidate is a
 * member once MemberAdmitted is stored on identity's (with its stream sequence, for a
 * read-your-writes GetMember).
 */
export class Observer {
  readonly started = new Signals<number>();
  readonly admitted = new Signals<number>();
  private readonly streams: ConsumerMessages[] = [];
  private readonly loops: Promise<void>[] = [];

  private constructor() {}

  static async start(nc: NatsConnection, namespace: string): Promise<Observer> {
    const observer = new Observer();
    const js = jetstream(nc);
    const follow = async (
      service: "identity" | "adjudicator",
      token: string,
      type: string,
      signals: Signals<number>,
    ) => {
      const names = streamNames(namespace, service);
      const consumer = await js.consumers.get(names.stream, {
        filter_subjects: `${names.prefix}.${token}.>`,
        deliver_policy: DeliverPolicy.New,
      });
      const messages = await consumer.consume({ max_messages: 2_000 });
      observer.streams.push(messages);
      observer.loops.push(
        (async () => {
          for await (const message of messages) {
            if (message.headers?.get(EVENT_TYPE_HEADER) === type)
              signals.fire(aggregateIdOf(message.subject), message.seq);
          }
        })(),
      );
    };
    await follow("adjudicator", "game", "pot.v1.GameStarted", observer.started);
    await follow("identity", "member", "pot.v1.MemberAdmitted", observer.admitted);
    return observer;
  }

  async stop(): Promise<void> {
    await Promise.all(this.streams.map((messages) => messages.close()));
    await Promise.allSettled(this.loops);
  }
}
