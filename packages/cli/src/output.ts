import { toJsonLine } from "@pot/client";

/** Where a run writes: the process's streams in main.ts, buffers in tests. */
export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** True when stderr is a terminal (progress bars, colours). */
  readonly interactive: boolean;
}

export const processIo: Io = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  interactive: process.stderr.isTTY === true,
};

/**
 * What a command prints: with --json one JSON document on stdout (bigint as strings, bytes as hex)
 * and nothing else there; without it, lines for people. Hints and warnings go to stderr either way.
 */
export class Output {
  constructor(
    readonly io: Io,
    readonly json: boolean,
  ) {}

  /** The command's result: `human` lines, or `data` as JSON. */
  result(human: string | readonly string[], data: unknown): void {
    if (this.json) this.io.stdout(`${toJsonLine(data)}\n`);
    else this.io.stdout(`${typeof human === "string" ? human : human.join("\n")}\n`);
  }

  /** One JSON document per line, whatever --json says (events tail). */
  jsonLine(data: unknown): void {
    this.io.stdout(`${toJsonLine(data)}\n`);
  }

  /** A hint for people (next step, where a file went): stderr, and not at all with --json. */
  hint(text: string): void {
    if (!this.json) this.io.stderr(`${text}\n`);
  }

  warn(text: string): void {
    this.io.stderr(`pot: warning: ${text}\n`);
  }
}
