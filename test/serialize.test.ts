import type { Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { payloadFromJson, payloadsToJson } from '../codecs/payload-json.js';
import { serializePayloads } from '../src/server/serialize.js';

const enc = new TextEncoder();

describe('serializePayloads (the codec server reply)', () => {
  it('writes exactly what JSON.stringify(payloadsToJson(...)) writes', () => {
    const pooled = Buffer.from('a pool slice'); // a Buffer that is a view into node's shared pool
    const cases: Payload[][] = [
      [],
      [{ metadata: {}, data: new Uint8Array() }],
      [{}],
      [{ metadata: { encoding: enc.encode('json/plain') }, data: enc.encode('{"a":1}') }, { metadata: { encoding: pooled }, data: pooled.subarray(2, 7) }],
      // Keys that need escaping, and odd ones a caller controls.
      [{ metadata: { 'quo"te': enc.encode('x'), 'back\\slash': enc.encode('y'), 'ctl\u0001\n': enc.encode(''), 'ü€😀': enc.encode('z'), '\u2028': enc.encode('w') }, data: new Uint8Array(1000).fill(255) }],
      [payloadFromJson({ metadata: JSON.parse('{"__proto__": "AQI=", "constructor": "AwQ="}'), data: 'BQY=' })],
    ];
    for (const payloads of cases) {
      const s = serializePayloads(payloads);
      expect(s).toBe(JSON.stringify(payloadsToJson(payloads)));
      expect(JSON.parse(s)).toEqual(payloadsToJson(payloads));
    }
  });

  it('writes only metadata and data, whatever else a payload object carries', () => {
    const p = { metadata: { encoding: enc.encode('x') }, data: enc.encode('y'), secret: 'plaintext', externalPayloads: [{ sizeBytes: 1 }] } as unknown as Payload;
    expect(JSON.parse(serializePayloads([p]))).toEqual({ payloads: [{ metadata: { encoding: 'eA==' }, data: 'eQ==' }] });
  });

  it('skips null metadata values as payloadsToJson does', () => {
    const p = { metadata: { a: null, b: enc.encode('b') }, data: enc.encode('') } as unknown as Payload;
    expect(serializePayloads([p])).toBe(JSON.stringify(payloadsToJson([p])));
  });
});
