import { echo } from "./echo.js";
import { ValidationError } from "./errors.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MEMBER_ID = /^[0-9a-f]{64}$/;

export function isUuid(value: string): boolean {
  return UUID.test(value);
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
