/** How many characters of a caller's input an error message quotes at most. */
export const ECHO_MAX_CHARS = 64;

// C0 controls, DEL and C1 controls: what a terminal, a log line or a Postgres text column chokes on.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * A caller's input as an error message may quote it: control characters shown as \u escapes, at most
 * ECHO_MAX_CHARS characters, then "…(N bytes)" saying how long it really was. Never echo input raw: a
 * 200 KB value in a gRPC status message overflows the client's header limits.
 */
export function echo(value: string, max = ECHO_MAX_CHARS): string {
  const shown = value.length > max ? value.slice(0, max) : value;
  const safe = shown.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return value.length > max ? `${safe}…(${utf8Length(value)} bytes)` : safe;
}

/** The length of `value` encoded as UTF-8, without encoding it. */
export function utf8Length(value: string): number {
  let bytes = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < value.length) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** The index of the first control character (C0, DEL or C1) in `value`, or -1. */
export function controlCharacterAt(value: string): number {
  const match = CONTROL.exec(value);
  return match ? match.index : -1;
}
