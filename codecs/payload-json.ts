import type { Payload } from '@temporalio/common';
import { MalformedPayloadError } from '../primitives/errors.js';

/**
 * Payloads as proto3 JSON, the shape the codec-server protocol and `temporal-envelope encode/decode`
 * use: `{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}`. Validated field
 * by field so bad input is a MalformedPayloadError naming the field, never a crash.
 */
export interface PayloadJson {
  metadata?: Record<string, string>;
  data?: string;
}

/**
 * `obj[key] = value` that also works for the key "__proto__" (an own property, never the
 * prototype). Only that key needs `defineProperty`: it is the one setter on Object.prototype, and
 * defining every key that way was 4% of the codec server's CPU (it turns objects into slow maps).
 */
function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/**
 * Base64 as proto3 JSON allows it: standard or URL-safe alphabet (not mixed), padded or not.
 * Decoded first and checked after: node's decoder reads both alphabets and skips or stops at
 * anything else, so for an ASCII string the output is exactly floor(3n/4) bytes (n = characters
 * before the padding) only when every character is valid; the length rules reject the n ≡ 1 (mod 4)
 * case where one skipped character would not change the count. Non-ASCII is refused first: node
 * reads a two-byte character by its low byte. A regex over the characters did the same job at
 * about a twentieth of the speed (0.7 ms for a 100 KB payload), the codec server's top entry.
 * `test/payload-json.test.ts` pins this against the grammar written out as a regex.
 */
function base64Bytes(s: string): Buffer | undefined {
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  if (pad > 0 && s.length % 4 !== 0) return undefined;
  const n = s.length - pad;
  if (n % 4 === 1) return undefined;
  if (Buffer.byteLength(s, 'utf8') !== s.length) return undefined;
  if ((s.includes('-') || s.includes('_')) && (s.includes('+') || s.includes('/'))) return undefined;
  const bytes = Buffer.from(s, 'base64');
  return bytes.length === Math.floor((n * 3) / 4) ? bytes : undefined;
}

function decodeBase64(value: unknown, field: string): Uint8Array {
  if (typeof value !== 'string') throw new MalformedPayloadError(`${field} expected a base64 string, got ${value === null ? 'null' : typeof value}`);
  const bytes = base64Bytes(value);
  if (bytes === undefined) throw new MalformedPayloadError(`${field} is not valid base64`);
  // Small Buffers are slices of node's shared pool: copy those so every payload owns its bytes
  // (and can be wiped alone); a large one already owns its memory and is only re-typed.
  return bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length ? new Uint8Array(bytes.buffer, 0, bytes.length) : new Uint8Array(bytes);
}

export function payloadFromJson(value: unknown, field = 'payload'): Payload {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MalformedPayloadError(`${field} expected an object`);
  const v = value as Record<string, unknown>;
  const metadata: Record<string, Uint8Array> = {};
  if (v.metadata !== undefined && v.metadata !== null) {
    if (typeof v.metadata !== 'object' || Array.isArray(v.metadata)) throw new MalformedPayloadError(`${field}.metadata expected an object`);
    for (const [k, m] of Object.entries(v.metadata as Record<string, unknown>)) {
      setOwn(metadata, k, decodeBase64(m, `${field}.metadata[${JSON.stringify(k)}]`));
    }
  }
  const data = v.data === undefined || v.data === null ? new Uint8Array() : decodeBase64(v.data, `${field}.data`);
  return { metadata, data };
}

export function payloadToJson(payload: Payload): PayloadJson {
  const metadata: Record<string, string> = {};
  for (const [k, m] of Object.entries(payload.metadata ?? {})) {
    if (m != null) setOwn(metadata, k, Buffer.from(m).toString('base64'));
  }
  return { metadata, data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64') };
}

/** `{"payloads": [...]}` → Payload[]. */
export function payloadsFromJson(value: unknown, options: { maxPayloads?: number } = {}): Payload[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MalformedPayloadError('body expected an object with a "payloads" array');
  const list = (value as { payloads?: unknown }).payloads;
  if (!Array.isArray(list)) throw new MalformedPayloadError('"payloads" expected an array');
  const max = options.maxPayloads ?? 10_000;
  if (list.length > max) throw new MalformedPayloadError(`"payloads" expected at most ${max} entries, got ${list.length}`);
  return list.map((p, i) => payloadFromJson(p, `payloads[${i}]`));
}

export function payloadsToJson(payloads: readonly Payload[]): { payloads: PayloadJson[] } {
  return { payloads: payloads.map(payloadToJson) };
}
