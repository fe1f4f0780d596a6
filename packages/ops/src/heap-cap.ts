/**
 * The heap a replay runs with. V8 left to itself lets a replay's heap grow to hundreds of megabytes
 * of garbage before collecting it (peak RSS 450-540 MB for a live set near 100 MB); capped, the
 * old generation is collected as it fills, and a young generation of 3 x 16 MB lets the events of
 * a batch die young instead of being promoted.
 */
export const REPLAY_HEAP = { maxOldSpaceMb: 192, maxSemiSpaceMb: 16 } as const;

/** Set in the environment of a process re-executed with the replay's heap flags. */
export const HEAP_CAPPED_ENV = "POT_REPLAY_HEAP_CAPPED";

/**
 * The Node arguments to run `script` again with the replay's heap cap (the caller's own Node flags
 * kept, its heap-size flags replaced), or undefined when this process already runs capped: it was
 * re-executed already (`env`), or its heap limit is at or below the cap already.
 */
export function cappedNodeArgs(options: {
  readonly execArgv: readonly string[];
  readonly script: string;
  readonly args: readonly string[];
  readonly heapLimitBytes: number;
  readonly env: Readonly<Record<string, string | undefined>>;
}): string[] | undefined {
  if (options.env[HEAP_CAPPED_ENV] === "1") return undefined;
  // The old generation's cap plus the young generation's (V8 reserves three semi-spaces).
  const capBytes = (REPLAY_HEAP.maxOldSpaceMb + 3 * REPLAY_HEAP.maxSemiSpaceMb) * 2 ** 20;
  if (options.heapLimitBytes <= capBytes) return undefined;
  const kept = options.execArgv.filter(
    (arg) => !/^--max-(old|semi)-space-size(=|$)/.test(arg) && !/^--max_(old|semi)_space_size(=|$)/.test(arg),
  );
  return [
    ...kept,
    `--max-old-space-size=${REPLAY_HEAP.maxOldSpaceMb}`,
    `--max-semi-space-size=${REPLAY_HEAP.maxSemiSpaceMb}`,
    options.script,
    ...options.args,
  ];
}
