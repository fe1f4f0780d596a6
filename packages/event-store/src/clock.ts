import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { silentLogger, type Logger } from "./logger.js";
import type { ServiceName } from "./naming.js";
import { natsConnectOptions, natsInboxPrefix, type NatsCredentials } from "./nats-connection.js";

/** The time every decision reads, in epoch milliseconds. */
export interface Clock {
  now(): number;
  /** Called after a controlled clock is moved (the adjudicator sweeps deadlines then). */
  onChange(listener: (now: number) => Promise<unknown> | void): void;
  close(): Promise<void>;
}

export function clockSubject(namespace: string, service: string): string {
  return `${namespace}.clock.${service}`;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  onChange() {},
  async close() {},
};

/**
 * A clock for tests that drive deadlines without sleeping: it reads the system time until a request
 * on `<namespace>.clock.<service>` sets it (body: epoch milliseconds as decimal text), then stays at
 * the time it was set to. It replies with the time it now reads, after every listener has run.
 */
export function controlledClock(nc: NatsConnection, subject: string, logger: Logger = silentLogger): Clock {
  let fixed: number | undefined;
  const listeners: ((now: number) => Promise<unknown> | void)[] = [];
  const subscription: Subscription = nc.subscribe(subject, {
    callback: (error, message) => {
      if (error) return;
      const value = Number(message.string());
      if (!Number.isSafeInteger(value) || value <= 0) {
        message.respond(`error: '${message.string()}' is not epoch milliseconds`);
        return;
      }
      fixed = value;
      logger.info({ now: new Date(value).toISOString() }, "controlled clock set");
      void Promise.allSettled(listeners.map(async (listener) => listener(value))).then(() =>
        message.respond(String(value)),
      );
    },
  });
  return {
    now: () => fixed ?? Date.now(),
    onChange(listener) {
      listeners.push(listener);
    },
    async close() {
      subscription.unsubscribe();
    },
  };
}

/**
 * A service's connection to NATS and the clock its decisions read. The connection reconnects for as
 * long as it takes (a NATS node restarting or failing over must not end the service) and builds no
 * Error per request (the client's async traces capture a stack for every request and publish).
 * Credentials in a server URL are used and taken out of it.
 */
export async function connectService(options: {
  readonly servers: string[];
  readonly namespace: string;
  readonly service: ServiceName;
  readonly clock: "system" | "controlled";
  readonly logger?: Logger;
  /** The service's NATS user (NATS_USER/NATS_PASSWORD, NATS_CREDS, or in the URL); none on an open server. */
  readonly credentials?: NatsCredentials;
}): Promise<{ nc: NatsConnection; clock: Clock }> {
  const nc = await connect({
    ...natsConnectOptions(options.servers.join(","), options.credentials),
    // The service's user may subscribe only under its own inbox prefix (see natsPermissions).
    inboxPrefix: natsInboxPrefix(options.namespace, options.service),
    name: `${options.namespace}-${options.service}`,
    maxReconnectAttempts: -1,
    noAsyncTraces: true,
  });
  const clock =
    options.clock === "controlled"
      ? controlledClock(nc, clockSubject(options.namespace, options.service), options.logger)
      : systemClock;
  return { nc, clock };
}
