import { ValidationError } from "@pot/mechanism";

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

/** An opaque token for the page after `after` in a listing with `filters`. */
export function encodePageToken(after: readonly (string | number)[], filters: string): string {
  const body: TokenBody = { v: 1, after, filters };
  return Buffer.from(JSON.stringify(body)).toString("base64url");
}

/** The cursor of a token from encodePageToken (undefined for ""); ValidationError when it does not fit. */
export function decodePageToken(token: string, filters: string): readonly (string | number)[] | undefined {
  if (token === "") return undefined;
  let body: Partial<TokenBody> | undefined;
  try {
    body = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as Partial<TokenBody>;
  } catch {
    body = undefined;
  }
  if (
    body?.v !== 1 ||
    !Array.isArray(body.after) ||
    !body.after.every((part) => typeof part === "string" || typeof part === "number")
  ) {
    throw new ValidationError("page_token", "is not a token this service issued");
  }
  if (body.filters !== filters) {
    throw new ValidationError("page_token", "was issued for a listing with other filters");
  }
  return body.after;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;

/** A UTC day from a request (YYYY-MM-DD), as epoch milliseconds at its midnight. */
function parseDay(field: string, value: string): number {
  const ms = DAY.test(value) ? Date.parse(`${value}T00:00:00Z`) : NaN;
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value) {
    throw new ValidationError(field, `'${value}' is not a day as YYYY-MM-DD`);
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
