import type { Payload } from '@temporalio/common';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EnvelopeCodec, LocalKeyring, isEnvelopeError, type AeadAlgorithm } from '../codecs/index.js';
import { newKeyringDocument } from '../keys/keyring-file.js';
import { samePayload, toProtoJson } from './support/payloads.js';

const ring = LocalKeyring.fromDocument(newKeyringDocument());
const otherRing = LocalKeyring.fromDocument(newKeyringDocument());

const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const payloadArb: fc.Arbitrary<Payload> = fc.record({
  metadata: fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), bytes(40), { maxKeys: 4 }),
  data: bytes(2048),
});
const idArb = fc.string({ minLength: 1, maxLength: 40 });
const algArb = fc.constantFrom<AeadAlgorithm>('AES-256-GCM', 'XCHACHA20-POLY1305');
const wf = (namespace: string, workflowId: string) => ({ type: 'workflow' as const, namespace, workflowId });

describe('EnvelopeCodec properties', () => {
  it('round-trips any payload, any scope, both algorithms, with and without compression', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(payloadArb, { maxLength: 5 }), idArb, idArb, algArb, fc.boolean(), async (payloads, ns, id, algorithm, compress) => {
        const codec = new EnvelopeCodec({ keyProviders: ring, algorithm, compression: compress ? 'deflate' : false, compressionMinBytes: 16 });
        const before = payloads.map(toProtoJson);
        const sealed = await codec.encode(payloads, wf(ns, id));
        expect(payloads.map(toProtoJson)).toEqual(before); // input not mutated
        expect(sealed).toHaveLength(payloads.length);
        const opened = await new EnvelopeCodec({ keyProviders: ring }).decode(sealed, wf(ns, id));
        opened.forEach((p, i) => expect(samePayload(p, payloads[i]!)).toBe(true));
      }),
      { numRuns: 150 },
    );
  });

  it('rejects any single flipped bit in the sealed data', async () => {
    const codec = new EnvelopeCodec({ keyProviders: ring });
    await fc.assert(
      fc.asyncProperty(payloadArb, fc.nat(), fc.integer({ min: 0, max: 7 }), async (payload, at, bit) => {
        const [sealed] = await codec.encode([payload], wf('default', 'wf-1'));
        const data = Uint8Array.from(sealed!.data!);
        data[at % data.length]! ^= 1 << bit;
        const err = await codec.decode([{ metadata: sealed!.metadata, data }], wf('default', 'wf-1')).catch((e: unknown) => e);
        expect(isEnvelopeError(err) && err.code).toBe('TAMPERED_CIPHERTEXT');
      }),
      { numRuns: 200 },
    );
  });

  it('rejects any change to any sealed metadata field, never yielding a payload', async () => {
    const codec = new EnvelopeCodec({ keyProviders: ring });
    await fc.assert(
      fc.asyncProperty(payloadArb, fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), async (payload, which, at, xor) => {
        const [sealed] = await codec.encode([payload], wf('default', 'wf-1'));
        const keys = Object.keys(sealed!.metadata!).filter((k) => k !== 'encoding');
        const key = keys[which % keys.length]!;
        const value = Uint8Array.from(sealed!.metadata![key]!);
        value[at % value.length]! ^= xor;
        const err = await codec.decode([{ metadata: { ...sealed!.metadata, [key]: value }, data: sealed!.data }]).catch((e: unknown) => e);
        expect(isEnvelopeError(err)).toBe(true);
        expect(['TAMPERED_CIPHERTEXT', 'UNKNOWN_KEY', 'UNSUPPORTED_FORMAT', 'MALFORMED_PAYLOAD']).toContain((err as { code: string }).code);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a payload decoded in another workflow or namespace', async () => {
    const codec = new EnvelopeCodec({ keyProviders: ring });
    await fc.assert(
      fc.asyncProperty(payloadArb, idArb, idArb, async (payload, a, b) => {
        fc.pre(a !== b);
        const [sealed] = await codec.encode([payload], wf('default', a));
        await expect(codec.decode([sealed!], wf('default', b))).rejects.toMatchObject({ code: 'SCOPE_MISMATCH' });
        await expect(codec.decode([sealed!], wf(b, a))).rejects.toMatchObject({ code: 'SCOPE_MISMATCH' });
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a payload whose key is in another keyring', async () => {
    const [sealed] = await new EnvelopeCodec({ keyProviders: ring }).encode([{ data: new Uint8Array([1]) }]);
    await expect(new EnvelopeCodec({ keyProviders: otherRing }).decode([sealed!])).rejects.toMatchObject({ code: 'UNKNOWN_KEY' });
  });
});

describe('EnvelopeCodec contract', () => {
  const codec = new EnvelopeCodec({ keyProviders: ring });

  it('accepts empty batches', async () => {
    expect(await codec.encode([])).toEqual([]);
    expect(await codec.decode([])).toEqual([]);
  });

  it('keeps a sealed metadata key named "__proto__" as an own key, leaving the prototype alone', async () => {
    const metadata: Record<string, Uint8Array> = {};
    Object.defineProperty(metadata, '__proto__', { value: new TextEncoder().encode('x'), enumerable: true, writable: true, configurable: true });
    metadata.encoding = new TextEncoder().encode('json/plain');
    const [sealed] = await codec.encode([{ metadata, data: new Uint8Array([1]) }], wf('default', 'w'));
    const [opened] = await codec.decode([sealed!], wf('default', 'w'));
    expect(Object.getOwnPropertyNames(opened!.metadata).sort()).toEqual(['__proto__', 'encoding']);
    expect(Object.getPrototypeOf(opened!.metadata)).toBe(Object.prototype);
    expect(new TextDecoder().decode(Object.getOwnPropertyDescriptor(opened!.metadata, '__proto__')!.value as Uint8Array)).toBe('x');
  });

  it('passes unencrypted payloads through by default and fails closed with requireEncryption', async () => {
    const plain = { metadata: { encoding: new TextEncoder().encode('json/plain') }, data: new TextEncoder().encode('"x"') };
    expect(await codec.decode([plain])).toEqual([plain]);
    const strict = new EnvelopeCodec({ keyProviders: ring, requireEncryption: true });
    await expect(strict.decode([plain], wf('default', 'w'))).rejects.toMatchObject({ code: 'PLAINTEXT_REJECTED' });
    await expect(strict.decode([{}])).rejects.toMatchObject({ code: 'PLAINTEXT_REJECTED' });
  });

  it('passes a foreign binary/encrypted payload (no envelope-version) through as not ours, and refuses it with requireEncryption', async () => {
    const foreign = { metadata: { encoding: new TextEncoder().encode('binary/encrypted'), 'encryption-key-id': new TextEncoder().encode('test') }, data: new Uint8Array(40) };
    // Temporal's codec contract: decode passes through what does not carry our encoding. It used to
    // throw UNSUPPORTED_FORMAT here while the codec server passed the same payload through.
    expect(await codec.decode([foreign])).toEqual([foreign]);
    const strict = new EnvelopeCodec({ keyProviders: ring, requireEncryption: true });
    await expect(strict.decode([foreign])).rejects.toMatchObject({ code: 'PLAINTEXT_REJECTED', message: expect.stringMatching(/not in the temporal-envelope format/) });
  });

  it('refuses namespace-scoped payloads in a workflow of that namespace unless acceptNamespaceScoped', async () => {
    const [sealed] = await codec.encode([{ data: new Uint8Array([7]) }]);
    await expect(codec.decode([sealed!], wf('default', 'any'))).rejects.toMatchObject({ code: 'SCOPE_MISMATCH', message: expect.stringMatching(/acceptNamespaceScoped is off/) });
    // Without a context, or in a namespace-only one (a standalone activity), there is nothing to refuse.
    expect([...(await codec.decode([sealed!]))[0]!.data!]).toEqual([7]);
    expect([...(await codec.decode([sealed!], { type: 'activity', namespace: 'default', activityId: '1', isLocal: false }))[0]!.data!]).toEqual([7]);
    const lenient = new EnvelopeCodec({ keyProviders: ring, acceptNamespaceScoped: true });
    expect([...(await lenient.decode([sealed!], wf('default', 'any')))[0]!.data!]).toEqual([7]);
    await expect(lenient.decode([sealed!], wf('other', 'any'))).rejects.toMatchObject({ code: 'SCOPE_MISMATCH' });
  });

  it('seals activity payloads to the workflow that scheduled them', async () => {
    const [sealed] = await codec.encode([{ data: new Uint8Array([1]) }], { type: 'activity', namespace: 'default', workflowId: 'wf-9', activityId: '1', isLocal: false });
    expect(new TextDecoder().decode(sealed!.metadata!['envelope-workflow-id']!)).toBe('wf-9');
    await expect(codec.decode([sealed!], wf('default', 'wf-8'))).rejects.toMatchObject({ code: 'SCOPE_MISMATCH' });
  });

  it('throws typed errors for junk inputs and never returns plaintext for them', async () => {
    const enc = new TextEncoder();
    const junk: unknown[] = [
      { metadata: { encoding: enc.encode('binary/encrypted'), 'envelope-version': enc.encode('1') } },
      { metadata: { encoding: enc.encode('binary/encrypted'), 'envelope-version': new Uint8Array() }, data: new Uint8Array(3) },
      { metadata: null, data: null },
    ];
    for (const j of junk) {
      const out = await codec.decode([j as Payload]).catch((e: unknown) => e);
      if (Array.isArray(out)) expect(out[0]).toBe(j); // not ours: passed through untouched
      else expect(isEnvelopeError(out)).toBe(true);
    }
  });

  it('rejects bad configuration with the field named', () => {
    expect(() => new EnvelopeCodec({ keyProviders: [] })).toThrow(/keyProviders/);
    expect(() => new EnvelopeCodec({ keyProviders: ring, algorithm: 'DES' as AeadAlgorithm })).toThrow(/algorithm/);
    expect(() => new EnvelopeCodec({ keyProviders: ring, cache: { maxAgeMs: -1 } })).toThrow(/maxAgeMs/);
    expect(() => new EnvelopeCodec({ keyProviders: ring, cache: { maxPayloadsPerKey: 2 ** 40 } })).toThrow(/maxPayloadsPerKey/);
    expect(() => new EnvelopeCodec({ keyProviders: ring, acceptNamespaceScoped: 'yes' as unknown as boolean })).toThrow(/acceptNamespaceScoped/);
    expect(() => new EnvelopeCodec({ keyProviders: ring, scheduleRuns: 1 as unknown as boolean })).toThrow(/scheduleRuns/);
    // The option this one replaced: a caller still passing it is told how to migrate, not silently ignored.
    expect(() => new EnvelopeCodec({ keyProviders: ring, strictWorkflowScope: false } as never)).toThrow(/"strictWorkflowScope" was removed.*acceptNamespaceScoped: true/);
  });
});
