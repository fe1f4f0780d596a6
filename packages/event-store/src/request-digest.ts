import { createHash } from "node:crypto";

/** Header of every event a command with a request digest appended (see CommandContext.request). */
export const REQUEST_DIGEST_HEADER = "Pot-Request-Digest";
/**
 * "<i>/<n>" on each event of a command that appended more than one: the i-th of n. A causation with
 * fewer than n events on the log was interrupted part-way (the rest is decided on a retry).
 */
export const BATCH_HEADER = "Pot-Batch";

/**
 * A digest of what a request asks for: SHA-256 (base64url) of its canonical JSON, object keys
 * sorted, bytes as hex, bigints as decimal strings. Two requests get the same digest exactly when
 * they ask for the same thing, whatever the order their fields were set in.
 */
export function requestDigest(content: unknown): string {
  return createHash("sha256").update(canonical(content)).digest("base64url");
}

function canonical(value: unknown): string {
  if (value === undefined || value === null) return "null";
  if (value instanceof Uint8Array)
    return `"0x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")}"`;
  if (typeof value === "bigint") return `"${value}n"`;
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, inner]) => inner !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonical(inner)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
