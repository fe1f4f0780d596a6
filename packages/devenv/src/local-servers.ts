import { execFileSync, spawn, spawnSync, type SpawnOptions } from "node:child_process";
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { NATS_ROLES, natsUserName, renderNatsAuthorization, type NatsRole } from "./nats-auth.js";
import { freePort, waitForPort } from "./ports.js";
import { answers, messageOf, probeNats, probePostgres } from "./probes.js";
import { exited, findExecutable, onProcessExit, postgresBinDirs, Tail, tailOfFile, terminate } from "./processes.js";

/** A user and password of a NATS server's `authorization` block. */
export interface NatsUser {
  readonly user: string;
  readonly password: string;
}

/** A server found or started by devenv. */
export interface ServerHandle {
  readonly url: string;
  /** Set when we started NATS with users and permissions: each role's credentials. */
  readonly natsUsers?: Readonly<Record<NatsRole, NatsUser>>;
  /** Set when we started it, e.g. "nats-server (local)"; undefined when it was already there. */
  readonly started?: string;
  /** The server's process id, when we started it. */
  readonly pid?: number;
  stop(): Promise<void>;
}

/** A reason why this fallback cannot be used; ensureServers moves on to the next one. */
export class Unavailable extends Error {
  override readonly name = "Unavailable";
}

const START_TIMEOUT_MS = 30_000;
const TOOL_TIMEOUT_MS = 90_000;

export interface LocalNatsOptions {
  /**
   * Run with the users and permissions of this namespace's network (infra/nats/, natsPermissions):
   * passwords are generated once and kept in `<dataDir>/nats-users.json` (mode 0600), and the data
   * in `<dataDir>/nats`. Without it the server has no authorization (data in `<dataDir>/nats-open`).
   */
  readonly authNamespace?: string;
  /** Listen on this port (a free one when omitted): a server restarted on its store keeps its URL. */
  readonly port?: number;
}

/**
 * `nats-server -js -c <config>` from PATH on 127.0.0.1 and a free port, its JetStream data under
 * `dataDir`. A server left running there (by a run that was killed) is used as it is.
 */
export async function startLocalNats(
  dataDir: string,
  log: (line: string) => void,
  options: LocalNatsOptions = {},
): Promise<ServerHandle> {
  const bin = findExecutable("nats-server", ["/usr/sbin", "/usr/local/sbin", "/usr/bin"]);
  if (bin === undefined) throw new Unavailable("nats-server is not on PATH");
  const secured = options.authNamespace !== undefined;
  const name = secured ? "nats" : "nats-open";
  const storeDir = join(dataDir, name);
  mkdirSync(storeDir, { recursive: true });
  const natsUsers = secured ? usersOf(dataDir, options.authNamespace) : undefined;
  // A server left running on this store by a run that was killed: use it rather than start a second one.
  const stateFile = join(dataDir, `${name}-server.json`);
  const leftOver = await runningNats(stateFile, natsUsers?.admin);
  if (leftOver !== undefined) {
    log(`using the nats-server already running on ${storeDir} at ${leftOver} (left running)`);
    return { url: leftOver, ...(natsUsers ? { natsUsers } : {}), stop: async () => undefined };
  }
  const port = options.port ?? (await freePort());
  const logFile = join(dataDir, `${name}-server.log`);
  const configFile = join(dataDir, `${name}-server.conf`);
  writeFileSync(
    configFile,
    [
      "# Written by @pot/devenv (startLocalNats); rewritten at every start.",
      "host: 127.0.0.1",
      `port: ${port}`,
      `jetstream { store_dir: ${JSON.stringify(storeDir)} }`,
      ...(natsUsers && options.authNamespace
        ? [renderNatsAuthorization(options.authNamespace, (role) => ({ literal: natsUsers[role].password }))]
        : []),
    ].join("\n"),
    { mode: 0o600 },
  );
  const out = openSync(logFile, "a");
  // Own process group: a Ctrl-C meant for `npm start` must not stop the broker before the services drain.
  const child = spawn(bin, ["-c", configFile], {
    stdio: ["ignore", out, out],
    detached: true,
  });
  closeSync(out);
  // A caller that forgets stop() must not hang: the exit hook below stops the server when we exit.
  child.unref();
  const spawnError = new Promise<never>((_, reject) => child.once("error", reject));
  const removeHook = onProcessExit(() => child.kill("SIGTERM"));
  const url = `nats://127.0.0.1:${port}`;
  const waiting = new AbortController();
  try {
    await Promise.race([
      waitForPort("127.0.0.1", port, START_TIMEOUT_MS, waiting.signal),
      spawnError,
      exited(child).then((code) => {
        throw new Error(`nats-server exited with code ${code} while starting:\n${tailOfFile(logFile)}`);
      }),
    ]);
    await probeNats(url, undefined, natsUsers?.admin);
  } catch (error) {
    removeHook();
    await terminate(child, "SIGKILL", 1_000);
    throw error;
  } finally {
    waiting.abort();
  }
  writeFileSync(stateFile, JSON.stringify({ pid: child.pid, url }));
  log(
    `started nats-server ${bin} at ${url} (data in ${storeDir}, log ${logFile}` +
      (secured ? `, users of network '${options.authNamespace}' in ${join(dataDir, "nats-users.json")})` : ")"),
  );
  let stopping: Promise<void> | undefined;
  return {
    url,
    started: "nats-server (local)",
    ...(child.pid !== undefined ? { pid: child.pid } : {}),
    ...(natsUsers ? { natsUsers } : {}),
    stop: () =>
      (stopping ??= (async () => {
        removeHook();
        await terminate(child, "SIGTERM", 10_000);
        rmSync(stateFile, { force: true });
      })()),
  };
}

/** The users of `namespace`'s network, with passwords generated once and kept in `<dataDir>/nats-users.json`. */
function usersOf(dataDir: string, namespace: string | undefined): Record<NatsRole, NatsUser> {
  if (namespace === undefined) throw new Error("no namespace");
  const file = join(dataDir, "nats-users.json");
  let stored: Record<string, unknown> = {};
  try {
    stored = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch {
    // none yet, or unreadable: new passwords
  }
  const users = {} as Record<NatsRole, NatsUser>;
  for (const role of NATS_ROLES) {
    const user = natsUserName(namespace, role);
    const kept = stored[user];
    users[role] = {
      user,
      password: typeof kept === "string" && kept.length >= 16 ? kept : randomBytes(18).toString("base64url"),
    };
  }
  writeFileSync(
    file,
    `${JSON.stringify(Object.fromEntries(NATS_ROLES.map((role) => [users[role].user, users[role].password])), null, 2)}\n`,
    { mode: 0o600 },
  );
  chmodSync(file, 0o600);
  return users;
}

async function runningNats(stateFile: string, admin: NatsUser | undefined): Promise<string | undefined> {
  let state: { pid?: unknown; url?: unknown };
  try {
    state = JSON.parse(readFileSync(stateFile, "utf8")) as typeof state;
  } catch {
    return undefined;
  }
  if (typeof state.pid !== "number" || typeof state.url !== "string") return undefined;
  try {
    process.kill(state.pid, 0);
  } catch {
    return undefined;
  }
  return (await answers(probeNats(state.url, undefined, admin))) ? state.url : undefined;
}

interface RunAs {
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/**
 * The folders of a PostgreSQL cluster under `dataDir` (`pg` for its data, `pg-run` for its socket),
 * made and, when it must run as another user than root, handed over to that user.
 */
function preparePostgresDirs(dataDir: string): { runAs: RunAs | undefined; pgDir: string; socketDir: string } {
  const runAs = postgresUser();
  const pgDir = join(dataDir, "pg");
  const socketDir = join(dataDir, "pg-run");
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(pgDir, { recursive: true, mode: 0o700 });
  mkdirSync(socketDir, { recursive: true, mode: 0o700 });
  if (runAs !== undefined) handOver(runAs, dataDir, [pgDir, socketDir]);
  return { runAs, pgDir, socketDir };
}

/**
 * A PostgreSQL cluster under `<dataDir>/pg` run with initdb and pg_ctl from PATH (or Debian's
 * /usr/lib/postgresql/<version>/bin). An existing initialised cluster is reused; one already running
 * there is used as it is and left running.
 */
export async function startLocalPostgres(dataDir: string, log: (line: string) => void): Promise<ServerHandle> {
  const binDirs = postgresBinDirs();
  const initdb = findExecutable("initdb", binDirs);
  const pgCtl = findExecutable("pg_ctl", binDirs);
  if (initdb === undefined || pgCtl === undefined) throw new Unavailable("initdb/pg_ctl are not on PATH");
  const { runAs, pgDir, socketDir } = preparePostgresDirs(dataDir);

  const run = (bin: string, args: string[]) => runTool(bin, args, runAs, pgDir);

  if (!existsSync(join(pgDir, "PG_VERSION"))) {
    const init = await run(initdb, ["-D", pgDir, "-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8", "-N"]);
    if (init.code !== 0) throw new Error(`initdb failed (exit ${init.code}):\n${init.output}`);
    log(`initialised a PostgreSQL cluster in ${pgDir}`);
  }

  const running = await run(pgCtl, ["status", "-D", pgDir]);
  if (running.code === 0) {
    const port = Number(readFileSync(join(pgDir, "postmaster.pid"), "utf8").split("\n")[3]);
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    try {
      await probePostgres(url);
    } catch (error) {
      throw new Error(
        `a PostgreSQL server already runs from ${pgDir} but ${url} does not answer: ${messageOf(error)}`,
        {
          cause: error,
        },
      );
    }
    log(`using the PostgreSQL server already running from ${pgDir} at ${url} (left running)`);
    return { url, stop: async () => undefined };
  }

  const port = await freePort();
  // Unix sockets have a path limit of ~107 bytes; without one the server only listens on TCP, which is all we use.
  const sockets = join(socketDir, `.s.PGSQL.${port}`).length < 100 ? socketDir : "";
  const logFile = join(pgDir, "server.log");
  const serverOptions = `-p ${port} -k ${shellQuote(sockets)} -c listen_addresses=127.0.0.1`;
  const start = await run(pgCtl, ["start", "-D", pgDir, "-l", logFile, "-w", "-t", "60", "-o", serverOptions]);
  if (start.code !== 0) {
    throw new Error(`pg_ctl start failed (exit ${start.code}):\n${start.output}\n${tailOfFile(logFile)}`);
  }
  const stopSync = (): void => {
    spawnSync(pgCtl, ["stop", "-D", pgDir, "-m", "fast", "-W"], { ...toolOptions(runAs, pgDir), stdio: "ignore" });
  };
  const removeHook = onProcessExit(stopSync);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  try {
    await probePostgres(url, 10_000);
  } catch (error) {
    removeHook();
    stopSync();
    throw error;
  }
  log(`started PostgreSQL ${pgCtl} at ${url} (data in ${pgDir}, log ${logFile})`);
  let stopping: Promise<void> | undefined;
  return {
    url,
    started: "postgresql (local)",
    stop: () =>
      (stopping ??= (async () => {
        removeHook();
        const stop = await run(pgCtl, ["stop", "-D", pgDir, "-m", "fast", "-w", "-t", "30"]);
        if (stop.code !== 0) throw new Error(`pg_ctl stop failed (exit ${stop.code}):\n${stop.output}`);
      })()),
  };
}

/** A PostgreSQL server run as our child process (startPostgresProcess). */
export interface PostgresProcess {
  readonly url: string;
  /** The postmaster's process id. */
  readonly pid: number;
  /** Resolves with the postmaster's exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  /** The end of the server's log. */
  log(): string;
  /** A fast shutdown (SIGINT), SIGKILL after 30 s. */
  stop(): Promise<void>;
}

/**
 * `postgres` itself (not pg_ctl) from PATH or Debian's /usr/lib/postgresql/<version>/bin, as our
 * child on 127.0.0.1:`port`, its cluster in `<dataDir>/pg` (initdb'd on first use, trust auth for
 * `postgres`). For fault tests: its pid is the postmaster's, so it can be killed and started again
 * on the same data and port, which then recovers from its WAL. As root it runs as the `postgres`
 * system user (or `nobody`), as startLocalPostgres does.
 */
export async function startPostgresProcess(
  dataDir: string,
  log: (line: string) => void,
  options: { readonly port: number },
): Promise<PostgresProcess> {
  const binDirs = postgresBinDirs();
  const initdb = findExecutable("initdb", binDirs);
  const postgres = findExecutable("postgres", binDirs);
  if (initdb === undefined || postgres === undefined) throw new Unavailable("initdb/postgres are not on PATH");
  const { runAs, pgDir, socketDir } = preparePostgresDirs(dataDir);
  if (!existsSync(join(pgDir, "PG_VERSION"))) {
    const init = await runTool(
      initdb,
      ["-D", pgDir, "-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8", "-N"],
      runAs,
      pgDir,
    );
    if (init.code !== 0) throw new Error(`initdb failed (exit ${init.code}):\n${init.output}`);
    log(`initialised a PostgreSQL cluster in ${pgDir}`);
  }
  const sockets = join(socketDir, `.s.PGSQL.${options.port}`).length < 100 ? socketDir : "";
  const output = new Tail(16 * 1024);
  const child = spawn(
    postgres,
    ["-D", pgDir, "-p", String(options.port), "-k", sockets, "-c", "listen_addresses=127.0.0.1"],
    { ...toolOptions(runAs, pgDir), stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  child.stdout?.on("data", (chunk: Buffer) => output.push(chunk));
  child.stderr?.on("data", (chunk: Buffer) => output.push(chunk));
  const done = exited(child);
  const removeHook = onProcessExit(() => child.kill("SIGINT"));
  void done.then(removeHook);
  const url = `postgres://postgres@127.0.0.1:${options.port}/postgres`;
  try {
    await Promise.race([
      (async () => {
        const deadline = Date.now() + START_TIMEOUT_MS;
        for (;;) {
          try {
            return await probePostgres(url, 2_000);
          } catch (error) {
            if (Date.now() > deadline) throw error;
            await sleep(100);
          }
        }
      })(),
      new Promise<never>((_, reject) => child.once("error", reject)),
      done.then((code) => {
        throw new Error(`postgres exited with code ${code} while starting:\n${output}`);
      }),
    ]);
  } catch (error) {
    await terminate(child, "SIGKILL", 1_000);
    throw error;
  }
  log(`started ${postgres} at ${url} (data in ${pgDir}, pid ${child.pid})`);
  let stopping: Promise<void> | undefined;
  return {
    url,
    pid: child.pid ?? 0,
    exited: done,
    log: () => output.toString(),
    stop: () =>
      (stopping ??= (async () => {
        await terminate(child, "SIGINT", 30_000);
      })()),
  };
}

/**
 * initdb and postgres refuse to run as root. As root we run them as the `postgres` system user (or
 * `nobody`); as anyone else, as ourselves.
 */
function postgresUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ["postgres", "nobody"]) {
    const found = lookupUser(user);
    if (found !== undefined) return found;
  }
  throw new Unavailable("running as root, and there is no non-root user (postgres, nobody) to run PostgreSQL as");
}

function lookupUser(user: string): RunAs | undefined {
  let line: string | undefined;
  try {
    line = execFileSync("getent", ["passwd", user], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    try {
      line = readFileSync("/etc/passwd", "utf8")
        .split("\n")
        .find((entry) => entry.startsWith(`${user}:`));
    } catch {
      return undefined;
    }
  }
  const fields = line?.trim().split(":");
  if (fields === undefined || fields.length < 6) return undefined;
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) return undefined;
  return { user, uid, gid, home: fields[5] ?? "/" };
}

/** Gives `runAs` the folders it writes to, and checks that it can reach them from /. */
function handOver(runAs: RunAs, dataDir: string, dirs: readonly string[]): void {
  // The data folder is ours: let the server's user traverse it (a temporary folder starts as 0700).
  chmodSync(dataDir, 0o755);
  for (const dir of dirs) chownTree(dir, runAs.uid, runAs.gid);
  for (const dir of dirs) {
    const check = spawnSync("/bin/sh", ["-c", 'test -w "$1" && test -x "$1"', "sh", dir], {
      ...toolOptions(runAs, "/"),
      stdio: "ignore",
    });
    if (check.status !== 0) {
      throw new Unavailable(
        `user ${runAs.user} cannot reach ${dir}: make its parent folders traversable (chmod o+x) or set DATABASE_URL`,
      );
    }
  }
}

function chownTree(path: string, uid: number, gid: number): void {
  const stat = lstatSync(path);
  if (stat.uid !== uid || stat.gid !== gid) chownSync(path, uid, gid);
  if (stat.isDirectory()) for (const entry of readdirSync(path)) chownTree(join(path, entry), uid, gid);
}

function toolOptions(runAs: RunAs | undefined, cwd: string): SpawnOptions {
  if (runAs === undefined) return { cwd };
  return {
    cwd,
    uid: runAs.uid,
    gid: runAs.gid,
    env: { ...process.env, HOME: runAs.home, USER: runAs.user, LOGNAME: runAs.user },
  };
}

async function runTool(
  bin: string,
  args: string[],
  runAs: RunAs | undefined,
  cwd: string,
): Promise<{ code: number | null; output: string }> {
  const output = new Tail(16 * 1024);
  // Own process group (see startLocalNats); the postmaster started by pg_ctl inherits it.
  const child = spawn(bin, args, { ...toolOptions(runAs, cwd), stdio: ["ignore", "pipe", "pipe"], detached: true });
  child.stdout?.on("data", (chunk: Buffer) => output.push(chunk));
  child.stderr?.on("data", (chunk: Buffer) => output.push(chunk));
  let timer: NodeJS.Timeout | undefined;
  try {
    const code = await Promise.race([
      exited(child),
      new Promise<never>((_, reject) => child.once("error", reject)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill("SIGKILL");
          reject(new Error(`${bin} ${args.join(" ")} did not finish within ${TOOL_TIMEOUT_MS} ms:\n${output}`));
        }, TOOL_TIMEOUT_MS);
      }),
    ]);
    // The pipes close just after the exit; give them a moment so the output is complete.
    await Promise.race([new Promise((resolve) => child.once("close", resolve)), sleep(200)]);
    return { code, output: output.toString() };
  } finally {
    clearTimeout(timer);
  }
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
