import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { payloadsFromJson, payloadsToJson } from '../codecs/payload-json.js';

// The grammar of padded or unpadded base64 in either alphabet, written the obvious way: the
// reference the faster check in payload-json.ts must agree with.
const grammar = (c: string) => new RegExp(`^(?:${c}{4})*(?:${c}{2}==|${c}{3}=|${c}{2}|${c}{3})?$`);
const REFERENCE = grammar('[A-Za-z0-9+/]');
const URLSAFE = grammar('[A-Za-z0-9_-]');
const accepts = (s: string) => {
  try {
    payloadsFromJson({ payloads: [{ metadata: {}, data: s }] });
    return true;
  } catch {
    return false;
  }
};

describe('payload JSON', () => {
  it('accepts exactly the base64 strings the grammar allows (standard or URL-safe), property', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.stringMatching(/^[A-Za-z0-9+/=_-]{0,14}$/),
          fc.string({ maxLength: 14 }),
          fc.string({ maxLength: 14, unit: 'binary' }),
          fc.base64String({ maxLength: 40 }),
          // Valid base64 with one character swapped for anything: ASCII, a byte whose low bits spell a
          // base64 character (U+012B reads as "+" by its low byte), lone surrogates, whitespace.
          fc.tuple(fc.base64String({ minLength: 4, maxLength: 40 }), fc.nat(), fc.string({ minLength: 1, maxLength: 1, unit: 'binary' })).map(([b, i, c]) => b.slice(0, i % b.length) + c + b.slice((i % b.length) + 1)),
          fc.tuple(fc.base64String({ minLength: 4, maxLength: 40 }), fc.constantFrom('\u012b', '\u0141', '\ud800', ' ', '\n', '.', '*', '=')).map(([b, c]) => b.slice(0, 2) + c + b.slice(3)),
        ),
        (s) => {
          expect(accepts(s)).toBe(REFERENCE.test(s) || URLSAFE.test(s));
        },
      ),
      { numRuns: 30_000 },
    );
  });

  it('decodes the URL-safe alphabet to the same bytes as the standard one', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 9000 }), (bytes) => {
        const std = Buffer.from(bytes).toString('base64');
        const [a] = payloadsFromJson({ payloads: [{ data: std }] });
        const [b] = payloadsFromJson({ payloads: [{ data: Buffer.from(bytes).toString('base64url') }] });
        expect(Buffer.from(a!.data!).equals(Buffer.from(bytes))).toBe(true);
        expect(Buffer.from(b!.data!).equals(Buffer.from(bytes))).toBe(true);
        // Every decoded field owns its memory, small or large: never a view into a shared pool.
        expect(a!.data!.byteOffset).toBe(0);
        expect(a!.data!.buffer.byteLength).toBe(bytes.length);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps keys that name Object.prototype members as own keys, without touching the prototype', () => {
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '__defineGetter__', 'valueOf', 'prototype'];
    const json = `{"payloads":[{"metadata":{${names.map((n, i) => `"${n}":"${Buffer.from([i]).toString('base64')}"`).join(',')}},"data":""}]}`;
    const [p] = payloadsFromJson(JSON.parse(json));
    expect(Object.getOwnPropertyNames(p!.metadata).sort()).toEqual([...names].sort());
    expect(Object.getPrototypeOf(p!.metadata)).toBe(Object.prototype);
    names.forEach((n, i) => expect([...(Object.getOwnPropertyDescriptor(p!.metadata, n)!.value as Uint8Array)]).toEqual([i]));
    const back = payloadsToJson([p!]).payloads[0]!.metadata!;
    expect(Object.getOwnPropertyNames(back).sort()).toEqual([...names].sort());
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).toString).toBe(Object.prototype.toString);
  });

  it('round-trips payloads through proto3 JSON', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.uint8Array({ maxLength: 40 })), fc.uint8Array({ maxLength: 200 }), (metadata, data) => {
        const [back] = payloadsFromJson(payloadsToJson([{ metadata, data }]));
        expect(Buffer.from(back!.data!)).toEqual(Buffer.from(data));
        expect(Object.keys(back!.metadata!).sort()).toEqual(Object.keys(metadata).sort());
      }),
      { numRuns: 500 },
    );
  });
});
