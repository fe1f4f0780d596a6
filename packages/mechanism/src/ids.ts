import { echo } from "./echo.js";
import { ValidationError } from "./errors.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MEMBER_ID = /^[0-9a-f]{64}$/;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

const UUID_V7 = /^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The creation time (epoch ms) of a lowercase UUIDv7 (RFC 9562), or undefined for anything else. */
export function uuidV7Time(value: string): number | undefined {
  const match = UUID_V7.exec(value);
  return match ? parseInt(`${match[1]}${match[2]}`, 16) : undefined;
}

/** A UUIDv7 made at `nowMs` from 10 random bytes: time-ordered, and its age can be read back. */
export function uuidV7(nowMs: number, random: Uint8Array): string {
  if (random.length < 10) throw new Error("a UUIDv7 needs 10 random bytes");
  if (!Number.isSafeInteger(nowMs) || nowMs < 0 || nowMs >= 2 ** 48) throw new Error("a UUIDv7 time is 48 bits of ms");
  const hex = (bytes: number[]) => bytes.map((b) => b.toString(16).padStart(2, "0")).join("");
  const time = nowMs.toString(16).padStart(12, "0");
  const r = [...random.subarray(0, 10)];
  const version = hex([0x70 | (r[0]! & 0x0f), r[1]!]);
  const variant = hex([0x80 | (r[2]! & 0x3f), r[3]!]);
  return `${time.slice(0, 8)}-${time.slice(8)}-${version}-${variant}-${hex(r.slice(4, 10))}`;
}

export function isMemberId(value: string): boolean {
  return MEMBER_ID.test(value);
}

export function requireUuid(field: string, value: string): string {
  if (!value) throw new ValidationError(field, "is required");
  if (!isUuid(value)) throw new ValidationError(field, `must be a lowercase UUID, got '${echo(value)}'`);
  return value;
}

export function requireMemberId(field: string, value: string): string {
  if (!value) throw new ValidationError(field, "is required");
  if (!isMemberId(value)) {
    throw new ValidationError(
      field,
      `must be 64 lowercase hex characters (the member's public key), got '${echo(value)}'`,
    );
  }
  return value;
}

export function requireBytes(field: string, value: Uint8Array, length: number): Uint8Array {
  if (value.length === 0) throw new ValidationError(field, "is required");
  if (value.length !== length) throw new ValidationError(field, `must be ${length} bytes, got ${value.length}`);
  return value;
}
