import type { ChildProcess } from "node:child_process";
import { accessSync, constants, readdirSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";

/**
 * The full path of an executable found on PATH, then in `fallbackDirs` (Debian keeps the PostgreSQL
 * server tools in /usr/lib/postgresql/<version>/bin, off PATH); undefined when there is none.
 */
export function findExecutable(name: string, fallbackDirs: readonly string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter((dir) => dir !== ""), ...fallbackDirs];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** /usr/lib/postgresql/<version>/bin folders, newest version first. */
export function postgresBinDirs(): string[] {
  try {
    return readdirSync("/usr/lib/postgresql")
      .filter((version) => /^\d+(\.\d+)?$/.test(version))
      .sort((a, b) => Number(b) - Number(a))
      .map((version) => join("/usr/lib/postgresql", version, "bin"));
  } catch {
    return [];
  }
}

/** Resolves with the exit code (null when killed by a signal) once the child has exited. */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

/** Sends `signal`, then SIGKILL after `graceMs`; resolves with the exit code. */
export async function terminate(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<number | null> {
  const done = exited(child);
  if (child.exitCode !== null || child.signalCode !== null) return done;
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  try {
    return await done;
  } finally {
    clearTimeout(timer);
  }
}

/** Keeps the last `limit` characters written to it. */
export class Tail {
  #text = "";
  constructor(private readonly limit = 64 * 1024) {}
  push(chunk: string | Buffer): void {
    this.#text += chunk.toString();
    if (this.#text.length > this.limit) this.#text = this.#text.slice(-this.limit);
  }
  toString(): string {
    return this.#text;
  }
}

export function tailOfFile(path: string, limit = 4 * 1024): string {
  try {
    const text = readFileSync(path, "utf8");
    return text.length > limit ? text.slice(-limit) : text;
  } catch {
    return "";
  }
}

const exitHooks = new Set<() => void>();
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * Runs `hook` (synchronously) when this process exits - normally, on an uncaught error, or on a
 * signal nobody else handles - so servers and services we started do not outlive us. Returns the
 * function that removes the hook.
 */
export function onProcessExit(hook: () => void): () => void {
  if (exitHooks.size === 0) {
    process.on("exit", runExitHooks);
    for (const signal of SIGNALS) process.on(signal, onSignal);
  }
  exitHooks.add(hook);
  return () => {
    if (exitHooks.delete(hook) && exitHooks.size === 0) uninstall();
  };
}

function uninstall(): void {
  process.removeListener("exit", runExitHooks);
  for (const signal of SIGNALS) process.removeListener(signal, onSignal);
}

function onSignal(signal: NodeJS.Signals): void {
  // An application that handles the signal itself (npm start) shuts down in its own order.
  if (process.listenerCount(signal) > 1) return;
  runExitHooks();
  // Die of the signal as we would have without this listener.
  process.kill(process.pid, signal);
}

function runExitHooks(): void {
  const hooks = [...exitHooks].reverse();
  exitHooks.clear();
  uninstall();
  for (const hook of hooks) {
    try {
      hook();
    } catch {
      // best effort while exiting
    }
  }
}
