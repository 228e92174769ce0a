/**
 * Byte helpers every layer shares: UTF-8 both ways, and the length-prefixed concatenation that
 * additional data and key-derivation inputs are built from (docs/wire-format.md).
 */
export const utf8 = new TextEncoder();

/**
 * Refuses invalid UTF-8 instead of replacing it, so a header cannot smuggle in a lookalike, and
 * keeps a leading U+FEFF: without `ignoreBOM` the decoder drops it, and a workflow id that starts
 * with one would read back as another id (SCOPE_MISMATCH on its own payloads).
 */
export const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Each field as a 4-byte big-endian length followed by its bytes, so no two lists serialize alike. */
export function lengthPrefixed(fields: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const f of fields) total += 4 + f.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const f of fields) {
    view.setUint32(offset, f.length);
    out.set(f, offset + 4);
    offset += 4 + f.length;
  }
  return out;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Whether `b` holds exactly the (ASCII) string `s`, without decoding it. */
export function bytesEqualString(b: Uint8Array, s: string): boolean {
  if (b.length !== s.length) return false;
  for (let i = 0; i < s.length; i++) if (b[i] !== s.charCodeAt(i)) return false;
  return true;
}
