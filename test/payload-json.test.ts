import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { payloadsFromJson, payloadsToJson } from '../codecs/payload-json.js';

// The grammar of padded or unpadded standard base64, written the obvious way: the reference the
// faster check in payload-json.ts must agree with.
const REFERENCE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}|[A-Za-z0-9+/]{3})?$/;
const URLSAFE = /^[A-Za-z0-9_-]*={0,2}$/;
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
      fc.property(fc.oneof(fc.stringMatching(/^[A-Za-z0-9+/=_-]{0,14}$/), fc.string({ maxLength: 14 }), fc.base64String({ maxLength: 40 })), (s) => {
        expect(accepts(s)).toBe(REFERENCE.test(s) || URLSAFE.test(s));
      }),
      { numRuns: 20_000 },
    );
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
