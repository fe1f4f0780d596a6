import { InvalidArgumentError } from "commander";

/** Argument and option parsers: each throws InvalidArgumentError with the reason (exit code 2). */

export function positiveInteger(value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(number) || number < 1) {
    throw new InvalidArgumentError("must be a whole number from 1.");
  }
  return number;
}

export function uuid(value: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)) {
    throw new InvalidArgumentError("must be a lowercase UUID, e.g. 6a1f0f8e-6a52-4a4e-9a39-0b9e4c1f2d3e.");
  }
  return value;
}

export function memberId(value: string): string {
  if (!/^[0-9a-f]{64}$/.test(value)) {
    throw new InvalidArgumentError("must be a member id: 64 lowercase hex characters (the member's public key).");
  }
  return value;
}

export function hash32(value: string): string {
  if (!/^[0-9a-f]{64}$/.test(value)) throw new InvalidArgumentError("must be a SHA-256: 64 lowercase hex characters.");
  return value;
}

export function hexBytes(value: string): string {
  if (!/^([0-9a-f]{2})*$/.test(value))
    throw new InvalidArgumentError("must be an even number of lowercase hex characters.");
  return value;
}

/** Repeatable option: collects every value. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

const DURATION_UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration such as 90s, 30m, 12h or 3d, in milliseconds. */
export function duration(value: string): number {
  const match = /^(\d{1,6})(s|m|h|d)$/.exec(value);
  if (!match || Number(match[1]) < 1) {
    throw new InvalidArgumentError("must be a duration: a whole number from 1 and a unit s, m, h or d, e.g. 3d.");
  }
  return Number(match[1]) * DURATION_UNITS[match[2]!]!;
}

export function networkId(value: string): string {
  if (!/^[a-z0-9-]{1,64}$/.test(value)) {
    throw new InvalidArgumentError("must be a network id: 1-64 characters of a-z, 0-9 and '-'.");
  }
  return value;
}
