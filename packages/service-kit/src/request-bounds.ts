import { readFileSync } from "node:fs";
import path from "node:path";
import { controlCharacterAt, utf8Length, ValidationError } from "@pot/mechanism";
import { contractsProtoRoot } from "./proto-files.js";

/**
 * The size limits of every request field, from one table: `proto/request-limits.json` of the
 * contracts (the generator lists it in docs/api.md). Checked for every call of a pot.v1 service
 * before its handler runs, so no handler, parser or error message ever sees an oversized value.
 */
export interface FieldLimit {
  /** Bytes (UTF-8 for strings), or elements for a repeated field. */
  readonly max: number;
  /** Free text: control characters (C0, DEL, C1) are refused too. */
  readonly text: boolean;
}

export interface RequestLimits {
  readonly defaults: { readonly string: number; readonly bytes: number; readonly items: number };
  /** Message name -> field path ("action.admission.consent.signature", "members[].public_key") -> limit. */
  readonly messages: ReadonlyMap<string, ReadonlyMap<string, FieldLimit>>;
}

interface LimitsFile {
  readonly defaults: RequestLimits["defaults"];
  readonly messages: Record<string, Record<string, number | { max: number; text?: boolean }>>;
}

export const REQUEST_LIMITS_FILE = "request-limits.json";

/** Parses the table; throws on anything malformed (a bad table must fail start-up, not a call). */
export function parseRequestLimits(json: unknown): RequestLimits {
  const file = json as Partial<LimitsFile>;
  const positive = (value: unknown) => typeof value === "number" && Number.isSafeInteger(value) && value > 0;
  const defaults = file.defaults;
  if (!defaults || !positive(defaults.string) || !positive(defaults.bytes) || !positive(defaults.items)) {
    throw new Error(`${REQUEST_LIMITS_FILE}: defaults must give positive string, bytes and items limits`);
  }
  const messages = new Map<string, Map<string, FieldLimit>>();
  for (const [message, fields] of Object.entries(file.messages ?? {})) {
    const limits = new Map<string, FieldLimit>();
    for (const [field, value] of Object.entries(fields)) {
      const limit = typeof value === "number" ? { max: value, text: false } : { max: value.max, text: !!value.text };
      if (!positive(limit.max)) throw new Error(`${REQUEST_LIMITS_FILE}: ${message}.${field} needs a positive maximum`);
      limits.set(field, limit);
    }
    messages.set(message, limits);
  }
  return { defaults, messages };
}

let loaded: RequestLimits | undefined;

/** The contracts' table, read once. */
export function requestLimits(): RequestLimits {
  loaded ??= parseRequestLimits(
    JSON.parse(readFileSync(path.join(contractsProtoRoot(), REQUEST_LIMITS_FILE), "utf8")) as unknown,
  );
  return loaded;
}

const NO_FIELDS: ReadonlyMap<string, FieldLimit> = new Map();
/** Deeper than any pot.v1 request: a request nested further is refused, not walked. */
const MAX_DEPTH = 8;

const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * Throws ValidationError, naming the field path and its limit (never echoing the value), for the
 * first string, bytes or repeated field of `request` (a ts-proto decoded `message`) over its limit,
 * or free text holding a control character.
 */
export function checkRequestLimits(message: string, request: unknown, limits: RequestLimits = requestLimits()): void {
  const fields = limits.messages.get(message) ?? NO_FIELDS;
  const limitOf = (field: string, fallback: number): FieldLimit => fields.get(field) ?? { max: fallback, text: false };
  const visit = (value: unknown, field: string, depth: number): void => {
    if (typeof value === "string") {
      const limit = limitOf(field, limits.defaults.string);
      if (value.length > limit.max || utf8Length(value) > limit.max) {
        throw new ValidationError(field, `is ${utf8Length(value)} bytes long, at most ${limit.max}`);
      }
      if (limit.text) {
        const at = controlCharacterAt(value);
        if (at >= 0) {
          const code = value.charCodeAt(at).toString(16).toUpperCase().padStart(4, "0");
          throw new ValidationError(field, `must not contain control characters (U+${code} at character ${at})`);
        }
      }
      return;
    }
    if (value instanceof Uint8Array) {
      const limit = limitOf(field, limits.defaults.bytes);
      if (value.length > limit.max) throw new ValidationError(field, `is ${value.length} bytes, at most ${limit.max}`);
      return;
    }
    if (typeof value !== "object" || value === null || value instanceof Date) return;
    if (depth > MAX_DEPTH) throw new ValidationError(field, "is nested too deeply");
    if (Array.isArray(value)) {
      const limit = limitOf(field, limits.defaults.items);
      if (value.length > limit.max)
        throw new ValidationError(field, `has ${value.length} elements, at most ${limit.max}`);
      for (const element of value) visit(element, `${field}[]`, depth + 1);
      return;
    }
    const prefix = field === "" ? "" : `${field}.`;
    for (const [key, inner] of Object.entries(value)) {
      // A oneof (ts-proto unions: { $case, value }) is named by the member that is set.
      if (typeof inner === "object" && inner !== null && "$case" in inner && typeof inner.$case === "string") {
        const member = `${prefix}${snake(inner.$case)}`;
        visit((inner as { value: unknown }).value, member, depth + 1);
      } else visit(inner, `${prefix}${snake(key)}`, depth + 1);
    }
  };
  visit(request, "", 0);
}
