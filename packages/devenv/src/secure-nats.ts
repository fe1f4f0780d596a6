import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalNats, type NatsUser } from "./local-servers.js";
import type { NatsRole } from "./nats-auth.js";

/** A nats-server of its own with the users and permissions of one network (for tests). */
export interface SecureNats {
  readonly url: string;
  readonly users: Readonly<Record<NatsRole, NatsUser>>;
  /** Where its config, log and data are (removed by stop()). */
  readonly dir: string;
  /** The server's log so far (permission violations are logged there). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts /usr/sbin/nats-server (or one on PATH) on a free loopback port with a temporary store and
 * the rendered authorization of `namespace`'s network: the server the permission tests attack. It
 * never touches the shared server at 4222.
 */
export async function startSecureNats(namespace: string): Promise<SecureNats> {
  const dir = mkdtempSync(join(tmpdir(), "pot-nats-"));
  try {
    const handle = await startLocalNats(dir, () => undefined, { authNamespace: namespace });
    const users = handle.natsUsers;
    if (users === undefined) throw new Error("startLocalNats returned no users");
    return {
      url: handle.url,
      users,
      dir,
      log: () => {
        try {
          return readFileSync(join(dir, "nats-server.log"), "utf8");
        } catch {
          return "";
        }
      },
      async stop() {
        await handle.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
