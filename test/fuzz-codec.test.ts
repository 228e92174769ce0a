import type { Payload, SerializationContext } from '@temporalio/common';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EnvelopeCodec } from '../codecs/index.js';
import { isEnvelopeError } from '../primitives/errors.js';
import { LocalKeyring, newKeyringDocument } from '../keys/index.js';
import { recordCounts } from './support/hardening-counts.js';
import { jsonPayload } from './support/payloads.js';

/**
 * Hostile input to decode: whatever it is, the answer is the original payload, a typed error
 * (EnvelopeError with a stable code), or — for payloads that are not ours — the payload untouched.
 * Never another exception, never plaintext from a payload that was altered.
 */

const MARKER = 'PLAINTEXT-MARKER-7f3a';
const ring = LocalKeyring.fromDocument(newKeyringDocument());
const codec = new EnvelopeCodec({ keyProviders: ring });
const strict = new EnvelopeCodec({ keyProviders: ring, requireEncryption: true });
const ctx = (workflowId = 'wf-fuzz'): SerializationContext => ({ type: 'workflow', namespace: 'default', workflowId });
const counts = { bitFlips: 0, truncations: 0, extensions: 0, randomPayloads: 0, metadataMutations: 0, scopeSwaps: 0, hugeFields: 0 };

/** Decode one payload; return 'ok' with its text, 'typed' with the code, or throw on anything untyped. */
async function outcome(c: EnvelopeCodec, p: Payload, context = ctx()): Promise<{ kind: 'ok'; text: string } | { kind: 'typed'; code: string }> {
  try {
    const [out] = await c.decode([p], context);
    return { kind: 'ok', text: Buffer.from(out?.data ?? new Uint8Array()).toString('latin1') };
  } catch (err) {
    if (isEnvelopeError(err)) return { kind: 'typed', code: err.code };
    throw new Error(`untyped failure: ${(err as Error)?.name}: ${(err as Error)?.message}`);
  }
}

const clone = (p: Payload): Payload => ({ metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Uint8Array.from(v!)])), data: Uint8Array.from(p.data ?? []) });

describe('decode under hostile input', () => {
  it('every single-bit flip of the data and of every metadata value fails typed or is never plaintext', async () => {
    const [sealed] = await codec.encode([jsonPayload({ m: MARKER })], ctx());
    const fields: [string, Uint8Array][] = [['data', sealed!.data!], ...Object.entries(sealed!.metadata!).map(([k, v]) => [`metadata.${k}`, v!] as [string, Uint8Array])];
    for (const [field, bytes] of fields) {
      for (let bit = 0; bit < bytes.length * 8; bit++) {
        const p = clone(sealed!);
        const target = field === 'data' ? p.data! : p.metadata![field.slice('metadata.'.length)]!;
        target[bit >> 3]! ^= 1 << (bit & 7);
        const r = await outcome(codec, p);
        counts.bitFlips++;
        if (r.kind === 'ok') {
          // Only a flip that makes the payload "not ours" (the encoding) passes, and then untouched.
          expect(field, `flip of ${field} bit ${bit} opened`).toBe('metadata.encoding');
          expect(r.text).not.toContain(MARKER);
        }
      }
    }
    expect(counts.bitFlips).toBeGreaterThan(1000);
  });

  it('truncated and extended ciphertexts fail as tampered or malformed', async () => {
    const [sealed] = await codec.encode([jsonPayload({ m: MARKER, pad: 'x'.repeat(200) })], ctx());
    const data = sealed!.data!;
    for (let len = 0; len < data.length; len++) {
      const r = await outcome(codec, { ...clone(sealed!), data: data.subarray(0, len) });
      counts.truncations++;
      expect(r.kind).toBe('typed');
    }
    for (const extra of [1, 2, 16, 1024]) {
      const r = await outcome(codec, { ...clone(sealed!), data: new Uint8Array([...data, ...new Uint8Array(extra)]) });
      counts.extensions++;
      expect(r).toMatchObject({ kind: 'typed', code: 'TAMPERED_CIPHERTEXT' });
    }
  });

  it('random data and random metadata in our format fail typed (property, 600 runs)', async () => {
    const [sealed] = await codec.encode([jsonPayload('x')], ctx());
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 512 }),
        fc.dictionary(fc.constantFrom('encryption-key-id', 'envelope-version', 'envelope-alg', 'envelope-namespace', 'envelope-workflow-id', 'envelope-dek', 'envelope-compression'), fc.uint8Array({ maxLength: 128 })),
        async (data, metaOverrides) => {
          const p = clone(sealed!);
          p.data = data;
          Object.assign(p.metadata!, metaOverrides);
          counts.randomPayloads++;
          const r = await outcome(codec, p);
          expect(r.kind).toBe('typed');
        },
      ),
      { numRuns: 600 },
    );
  });

  it('arbitrary metadata maps and data: passthrough untouched, or typed; strict mode refuses plaintext (property, 400 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 64 })), fc.uint8Array({ maxLength: 256 }), async (metadata, data) => {
        const p: Payload = { metadata, data };
        counts.metadataMutations++;
        const r = await outcome(codec, p);
        if (r.kind === 'ok') expect(r.text).toBe(Buffer.from(data).toString('latin1'));
        const s = await outcome(strict, p);
        expect(s.kind).toBe('typed');
      }),
      { numRuns: 400 },
    );
  });

  it('a payload moved to another workflow or namespace never opens there', async () => {
    for (let i = 0; i < 50; i++) {
      const [sealed] = await codec.encode([jsonPayload({ m: MARKER, i })], ctx(`wf-a-${i}`));
      for (const other of [ctx(`wf-b-${i}`), { type: 'workflow' as const, namespace: 'other', workflowId: `wf-a-${i}` }]) {
        const r = await outcome(codec, sealed!, other);
        counts.scopeSwaps++;
        expect(r).toMatchObject({ kind: 'typed', code: 'SCOPE_MISMATCH' });
      }
      // Rewriting the scope metadata to match the new context breaks authentication instead.
      const p = clone(sealed!);
      p.metadata!['envelope-workflow-id'] = new TextEncoder().encode(`wf-b-${i}`);
      const r = await outcome(codec, p, ctx(`wf-b-${i}`));
      counts.scopeSwaps++;
      expect(r).toMatchObject({ kind: 'typed', code: 'TAMPERED_CIPHERTEXT' });
    }
  });

  it('huge fields fail fast and typed', async () => {
    const [sealed] = await codec.encode([jsonPayload('x')], ctx());
    for (const [field, size] of [['encryption-key-id', 1 << 20], ['envelope-dek', 1 << 20], ['envelope-namespace', 1 << 16], ['envelope-workflow-id', 1 << 16], ['envelope-alg', 1 << 16]] as const) {
      const p = clone(sealed!);
      p.metadata![field] = new Uint8Array(size).fill(65);
      const r = await outcome(codec, p);
      counts.hugeFields++;
      expect(r.kind, field).toBe('typed');
    }
    recordCounts('codec', counts);
  });
});
