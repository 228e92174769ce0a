/**
 * Secrets given as base64 in config or the environment (the session HMAC key), checked for what
 * they decode to rather than for their length in characters: 44 dots are 44 characters and a
 * 0-byte key. Accepted: canonical standard base64 with padding (`openssl rand -base64 32`) or
 * canonical base64url without; anything else (whitespace, mixed alphabets, stray bits) is refused
 * rather than guessed at, since a lenient decoder silently drops what it does not understand.
 */

export const MIN_SECRET_BYTES = 32;

/**
 * Fewer distinct byte values than this in a secret of ≥ 32 bytes is a placeholder, a repeated
 * pattern or a zeroed key, not random material: 32 random bytes have fewer than 16 distinct values
 * with probability below 2^-60.
 */
const MIN_DISTINCT_BYTES = 16;

export type DecodedSecret = { ok: true; bytes: Buffer } | { ok: false; problem: string };

/** Decode a base64 secret; `problem` says what is wrong without repeating the value. */
export function decodeSecret(value: string): DecodedSecret {
  const standard = Buffer.from(value, 'base64');
  const url = Buffer.from(value, 'base64url');
  const bytes = value.length > 0 && standard.toString('base64') === value ? standard : value.length > 0 && url.toString('base64url') === value ? url : undefined;
  const hint = 'make one with `openssl rand -base64 32`';
  if (bytes === undefined) return { ok: false, problem: `is not canonical base64 (standard with padding, or base64url without; no whitespace); ${hint}` };
  if (bytes.length < MIN_SECRET_BYTES) return { ok: false, problem: `decodes to ${bytes.length} bytes; expected at least ${MIN_SECRET_BYTES}; ${hint}` };
  const distinct = new Set(bytes).size;
  if (distinct < MIN_DISTINCT_BYTES) return { ok: false, problem: `does not look random (${distinct} distinct byte values in ${bytes.length} bytes); ${hint}` };
  return { ok: true, bytes };
}
