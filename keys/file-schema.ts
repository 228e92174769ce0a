import YAML from 'yaml';
import { z } from 'zod';
import { KeyringError, describeIssues } from '../primitives/errors.js';

/**
 * How every key file is read: parsed (JSON, or YAML where a file may be either), then checked
 * against its zod schema. A KeyringError names the file and every field that is wrong. Schemas
 * keep fields they do not know (loose objects), so a file written by a newer version survives an
 * older version's read-modify-write.
 *
 * The same rules hold in the Go and Python readers (codecs/go/keys, codecs/python/…/keys): a
 * leading UTF-8 byte order mark is ignored (editors on Windows add one), key bytes must be
 * canonical base64, times must be instants, and a directory at the path is called a directory.
 */
export function parseKeyFile<T extends z.ZodType>(schema: T, text: string, what: string, syntax: 'json' | 'yaml' = 'json'): z.output<T> {
  const bom = text.startsWith(BOM);
  const body = bom ? text.slice(BOM.length) : text;
  let doc: unknown;
  try {
    doc = syntax === 'yaml' ? YAML.parse(body) : JSON.parse(body);
  } catch {
    // The mark is mentioned only when parsing fails anyway, so nobody hunts for the wrong culprit.
    throw new KeyringError(`${what} is not valid ${syntax === 'yaml' ? 'YAML' : 'JSON'}${bom ? ' (after the UTF-8 byte order mark at its start, which is ignored)' : ''}`);
  }
  return validateKeyFile(schema, doc, what);
}

const BOM = '\uFEFF';

export function validateKeyFile<T extends z.ZodType>(schema: T, doc: unknown, what: string): z.output<T> {
  const result = schema.safeParse(doc);
  if (!result.success) throw new KeyringError(`${what}: ${describeIssues(result.error.issues)}`);
  return result.data;
}

/** A directory where a key file belongs is its own mistake, not a permissions or parsing one. */
export function directoryInstead(what: string, expected: string): KeyringError {
  return new KeyringError(`${what} is a directory, expected ${expected}`);
}

/**
 * A time as the key files record it: an ISO-8601 instant, `YYYY-MM-DDTHH:MM:SS[.fraction]` with
 * `Z` or a `±HH:MM` offset, naming a real calendar time (what `Date.prototype.toISOString` and our
 * Go and Python writers produce). Date.parse alone would take "2026", "March 7" or "2026-02-31".
 */
export const isoTime = z.string().refine(isIsoInstant, 'expected an ISO-8601 instant like 2026-11-24T10:00:00.000Z');

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-](\d{2}):(\d{2}))$/;

export function isIsoInstant(value: string): boolean {
  const m = INSTANT.exec(value);
  if (m === null) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return false;
  if (hour > 23 || minute > 59 || second > 59) return false;
  return m[7] === undefined || (Number(m[7]) <= 23 && Number(m[8]) <= 59);
}

function daysIn(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Key bytes as the key files hold them: canonical base64 (standard alphabet, `=` padding), the
 * text our writers produce and nothing else. Node's decoder skips what it does not understand
 * (whitespace, stray characters, the other alphabet), so a checked length alone would accept junk
 * inside the value: re-encoding the bytes must give back the same text.
 */
export function base64Key(bytes: number) {
  return z.string().superRefine((value, ctx) => {
    const decoded = Buffer.from(value, 'base64');
    if (decoded.toString('base64') !== value) {
      ctx.addIssue({ code: 'custom', message: `expected canonical base64 of ${bytes} bytes (standard alphabet, = padding, no whitespace or other characters)` });
    } else if (decoded.length !== bytes) {
      ctx.addIssue({ code: 'custom', message: `expected base64 of ${bytes} bytes, got ${decoded.length}` });
    }
  });
}
