/**
 * One cookie out of a `Cookie` header, read strictly. Our session cookie's value is base64url and
 * a dot, which needs no percent-encoding, so nothing is decoded: a value with `%`, quotes or any
 * other character is not one we issued, and is reported as malformed rather than thrown on (a
 * decodeURIComponent URIError was a 500). A name that appears twice is ambiguous — a sibling
 * domain can toss in a second cookie of the same name — and is reported too, never resolved by
 * picking one.
 */

export type CookieLookup = { kind: 'absent' } | { kind: 'value'; value: string } | { kind: 'malformed'; reason: string };

const VALUE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Far above any session we issue (a few hundred bytes); bounds the work on a hostile header. */
const MAX_VALUE_LENGTH = 4096;

export function findCookie(header: string | undefined, name: string): CookieLookup {
  if (!header) return { kind: 'absent' };
  let found: string | undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    if (found !== undefined) return { kind: 'malformed', reason: 'appears more than once' };
    found = part.slice(eq + 1).trim();
  }
  if (found === undefined) return { kind: 'absent' };
  if (found.length > MAX_VALUE_LENGTH) return { kind: 'malformed', reason: `is longer than ${MAX_VALUE_LENGTH} characters` };
  if (!VALUE.test(found)) return { kind: 'malformed', reason: 'is not in the form this server issues' };
  return { kind: 'value', value: found };
}
