import type { Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { EnvelopeCodec, LocalKeyring, type DecodeResult, type SealedPayloadInfo } from '../codecs/index.js';
import { newKeyringDocument } from '../keys/keyring-file.js';
import { jsonPayload, text } from './support/payloads.js';

/**
 * One decode path (EnvelopeCodec's decodeBatch) behind decode(), decodeDetailed() and the codec
 * server: each header read once, the batch authorized once before any key is touched, an explicit
 * "denied" outcome, and decode() and decodeDetailed() agreeing on every payload.
 */

const ring = LocalKeyring.fromDocument(newKeyringDocument());
const other = LocalKeyring.fromDocument(newKeyringDocument());
const enc = new TextEncoder();
const wf = (workflowId: string) => ({ type: 'workflow' as const, namespace: 'default', workflowId });

async function batch() {
  const codec = new EnvelopeCodec({ keyProviders: ring });
  const [a] = await codec.encode([jsonPayload('a')], wf('wf-a'));
  const [b] = await codec.encode([jsonPayload('b')], wf('wf-b'));
  const [unknownKey] = await new EnvelopeCodec({ keyProviders: other }).encode([jsonPayload('x')], wf('wf-a'));
  const plain = jsonPayload('plain');
  const foreign: Payload = { metadata: { encoding: enc.encode('binary/encrypted') }, data: new Uint8Array(8) };
  return { a: a!, b: b!, unknownKey: unknownKey!, plain, foreign };
}

/** Counts how often a payload's header field is read. */
function counting(payload: Payload, field: string): { payload: Payload; reads: () => number } {
  let reads = 0;
  const metadata = new Proxy(payload.metadata!, {
    get(target, key, receiver) {
      if (key === field) reads++;
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  return { payload: { ...payload, metadata }, reads: () => reads };
}

describe('the decode core', () => {
  it('decode() and decodeDetailed() agree payload by payload: opened, passed through, or the same first failure', async () => {
    const { a, b, unknownKey, plain, foreign } = await batch();
    const codec = new EnvelopeCodec({ keyProviders: ring });
    const good = [plain, a, foreign, b];
    const detailed = await codec.decodeDetailed(good, { passThroughUnopenable: true });
    expect(detailed.map((r) => r.status)).toEqual(['passthrough', 'decoded', 'passthrough', 'decoded']);
    expect(await codec.decode(good)).toEqual(detailed.map((r) => r.payload));
    expect(text((await codec.decode(good))[1]!)).toBe('"a"');

    const bad = [plain, unknownKey, a];
    const outcomes = await codec.decodeDetailed(bad, { passThroughUnopenable: true });
    expect(outcomes.map((r) => r.status)).toEqual(['passthrough', 'failed', 'decoded']);
    const fromDecode = await codec.decode(bad).catch((e: unknown) => e);
    const fromDetailed = await codec.decodeDetailed(bad).catch((e: unknown) => e);
    for (const e of [fromDecode, fromDetailed]) expect(e).toMatchObject({ code: 'UNKNOWN_KEY', message: outcomes[1]!.error!.message });
  });

  it('authorizes a batch once, before any key is touched, and returns refused payloads as they came with status "denied"', async () => {
    const { a, b, plain } = await batch();
    const codec = new EnvelopeCodec({ keyProviders: ring });
    const calls: SealedPayloadInfo[][] = [];
    const results = await codec.decodeDetailed([plain, a, b], {
      passThroughUnopenable: true,
      authorize: (sealed) => {
        calls.push([...sealed]);
        expect(codec.keys.stats().decryptEntries).toBe(0); // nothing opened yet
        return sealed.map((s) => s.scope.workflowId === 'wf-a');
      },
    });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.map((s) => [s.index, s.scope.workflowId, s.keyId])).toEqual([
      [1, 'wf-a', ring.primaryKeyId()],
      [2, 'wf-b', ring.primaryKeyId()],
    ]);
    expect(results.map((r: DecodeResult) => r.status)).toEqual(['passthrough', 'decoded', 'denied']);
    expect(results[2]).toMatchObject({ payload: b, scope: { namespace: 'default', workflowId: 'wf-b' }, keyId: ring.primaryKeyId() });
  });

  it('an authorize that throws refuses the whole batch and opens nothing', async () => {
    const { a, b } = await batch();
    const codec = new EnvelopeCodec({ keyProviders: ring });
    await expect(codec.decodeDetailed([a, b], { passThroughUnopenable: true, authorize: () => { throw new Error('forbidden'); } })).rejects.toThrow('forbidden');
    expect(codec.keys.stats().decryptEntries).toBe(0);
  });

  it('reads each header once: a field is read once for the header and once for the additional data', async () => {
    const { a } = await batch();
    const codec = new EnvelopeCodec({ keyProviders: ring });
    const viaDetailed = counting(a, 'envelope-alg');
    await codec.decodeDetailed([viaDetailed.payload], { passThroughUnopenable: true, authorize: (s) => s.map(() => true) });
    expect(viaDetailed.reads()).toBe(2);
    const viaDecode = counting(a, 'envelope-alg');
    await codec.decode([viaDecode.payload], wf('wf-a'));
    expect(viaDecode.reads()).toBe(2);
  });
});
