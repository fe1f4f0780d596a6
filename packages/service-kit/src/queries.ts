import { echo, ValidationError } from "@pot/mechanism";

/**
 * Shared rules of the list and statistics queries: page sizes, opaque page tokens bound to the
 * filters they were issued for, and UTC day ranges.
 */

/** `requested`, or `fallback` when 0; ValidationError above `max`. */
export function pageSize(requested: number, { fallback, max }: { fallback: number; max: number }): number {
  if (requested === 0) return fallback;
  if (!Number.isInteger(requested) || requested < 0 || requested > max) {
    throw new ValidationError("page_size", `must be from 1 to ${max} (0 for ${fallback})`);
  }
  return requested;
}

interface TokenBody {
  readonly v: 1;
  /** Where the next page starts (the sort key of the last row returned). */
  readonly after: readonly (string | number)[];
  /** The filters of the listing, so a token is not reused with other filters. */
  readonly filters: string;
}

/** Page tokens this service issues are far shorter; anything longer is refused before decoding. */
export const MAX_PAGE_TOKEN_LENGTH = 512;

/**
 * What each part of a cursor must be: "seq", a stream sequence or row position (a safe integer
 * from 0); "id", an identifier (1-128 characters of [A-Za-z0-9._:-]).
 */
export type CursorPart = "seq" | "id";
type CursorOf<P extends readonly CursorPart[]> = { [K in keyof P]: P[K] extends "seq" ? number : string };

const CURSOR_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** An opaque token for the page after `after` in a listing with `filters`. */
export function encodePageToken(after: readonly (string | number)[], filters: string): string {
  const body: TokenBody = { v: 1, after, filters };
  return Buffer.from(JSON.stringify(body)).toString("base64url");
}

/**
 * The cursor of a token from encodePageToken (undefined for ""), each part checked against `parts`:
 * ValidationError for anything else (1.5, 1e300, -1, a huge string, other filters), never a value
 * that would fail later in a query.
 */
export function decodePageToken<const P extends readonly CursorPart[]>(
  token: string,
  filters: string,
  parts: P,
): CursorOf<P> | undefined {
  if (token === "") return undefined;
  const notOurs = () => new ValidationError("page_token", "is not a token this service issued");
  if (token.length > MAX_PAGE_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) throw notOurs();
  let body: Partial<TokenBody> | undefined;
  try {
    body = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as Partial<TokenBody>;
  } catch {
    body = undefined;
  }
  if (body === null || typeof body !== "object" || body.v !== 1 || !Array.isArray(body.after)) throw notOurs();
  const after: readonly unknown[] = body.after;
  if (after.length !== parts.length) throw notOurs();
  after.forEach((value, index) => {
    const ok =
      parts[index] === "seq"
        ? typeof value === "number" && Number.isSafeInteger(value) && value >= 0
        : typeof value === "string" && CURSOR_ID.test(value);
    if (!ok) throw notOurs();
  });
  if (body.filters !== filters) {
    throw new ValidationError("page_token", "was issued for a listing with other filters");
  }
  return after as CursorOf<P>;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;

/** A UTC day from a request (YYYY-MM-DD), as epoch milliseconds at its midnight. */
function parseDay(field: string, value: string): number {
  const ms = value.length === 10 && DAY.test(value) ? Date.parse(`${value}T00:00:00Z`) : NaN;
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value) {
    throw new ValidationError(field, `'${echo(value)}' is not a day as YYYY-MM-DD`);
  }
  return ms;
}

/**
 * The inclusive UTC day range of a statistics query: `to_day` defaults to the day of `now`,
 * `from_day` to `defaultDays - 1` days before it; at most `maxDays` days.
 */
export function dayRange(
  request: { readonly fromDay: string; readonly toDay: string },
  now: number,
  { defaultDays = 30, maxDays = 366 }: { defaultDays?: number; maxDays?: number } = {},
): { from: string; to: string } {
  const to = request.toDay === "" ? Math.floor(now / DAY_MS) * DAY_MS : parseDay("to_day", request.toDay);
  const from = request.fromDay === "" ? to - (defaultDays - 1) * DAY_MS : parseDay("from_day", request.fromDay);
  if (from > to) throw new ValidationError("from_day", "is after to_day");
  if ((to - from) / DAY_MS + 1 > maxDays)
    throw new ValidationError("from_day", `is more than ${maxDays} days before to_day`);
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  return { from: day(from), to: day(to) };
}
