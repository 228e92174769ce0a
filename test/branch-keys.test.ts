import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Payload } from '@temporalio/common';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EnvelopeCodec, KmsUnavailableError, LocalKeyring, isEnvelopeError, makeScope, type AeadAlgorithm } from '../codecs/index.js';
import { retireInDocument, rotateDocument, writeKeyring } from '../keys/admin/rotation.js';
import { BranchKeyProvider, withBranchKeys } from '../keys/branch-key-provider.js';
import { ForwardingProvider } from '../keys/forwarding-provider.js';
import type { KeyProvider } from '../keys/key-provider.js';
import { newKeyringDocument } from '../keys/keyring-file.js';
import { ShreddableKeyProvider } from '../keys/shreddable-provider.js';
import { branchKeyScope, unpackBranchWrapped } from '../primitives/branch-key.js';
import { peekScope } from '../primitives/format-versions.js';
import { hkdfSha256 } from '../primitives/hkdf.js';
import { CountingProvider } from './support/counting-provider.js';
import { MemoryScopeSecretStore } from './support/memory-shred-store.js';
import { jsonPayload, samePayload, toProtoJson } from './support/payloads.js';

/**
 * Branch keys (format v2) with the local keyring: what the design promises per process — one KEK
 * call per namespace per branch-key lifetime, distinct data keys per workflow, every field bound —
 * as properties over any payload and scope, and the cache's rules with a clock the test moves.
 */

const ring = LocalKeyring.fromDocument(newKeyringDocument());
const wf = (namespace: string, workflowId: string) => ({ type: 'workflow' as const, namespace, workflowId });
const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const payloadArb: fc.Arbitrary<Payload> = fc.record({ metadata: fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), bytes(40), { maxKeys: 4 }), data: bytes(2048) });
const idArb = fc.string({ minLength: 1, maxLength: 40 });
const algArb = fc.constantFrom<AeadAlgorithm>('AES-256-GCM', 'XCHACHA20-POLY1305');
const versionOf = (p: Payload) => new TextDecoder().decode(p.metadata!['envelope-version']);

function clocked(options: { branchKeyMaxAgeMs?: number; cache?: { staleGraceMs?: number; decryptMaxAgeMs?: number; maxAgeMs?: number } } = {}) {
  let now = 1_000_000;
  const kms = new CountingProvider(LocalKeyring.fromDocument(newKeyringDocument()));
  const codec = new EnvelopeCodec({ keyProviders: kms, keyHierarchy: 'branch', clock: () => now, ...options });
  return { codec, kms, advance: (ms: number) => (now += ms) };
}

afterEach(() => vi.restoreAllMocks());

describe('format v2 properties', () => {
  it('round-trips any payload, any scope, both algorithms, with and without compression, into a codec of either hierarchy', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(payloadArb, { maxLength: 4 }), idArb, fc.option(idArb, { nil: undefined }), algArb, fc.boolean(), async (payloads, ns, id, algorithm, compress) => {
        const codec = new EnvelopeCodec({ keyProviders: ring, keyHierarchy: 'branch', algorithm, compression: compress ? 'deflate' : false, compressionMinBytes: 16 });
        const scope = makeScope(ns, id);
        const before = payloads.map(toProtoJson);
        const sealed = await codec.encodeInScope(payloads, scope);
        expect(payloads.map(toProtoJson)).toEqual(before);
        for (const s of sealed) expect(versionOf(s)).toBe('2');
        for (const reader of [new EnvelopeCodec({ keyProviders: ring }), new EnvelopeCodec({ keyProviders: ring, keyHierarchy: 'branch' })]) {
          const opened = await reader.decode(sealed, id === undefined ? undefined : wf(ns, id));
          opened.forEach((p, i) => expect(samePayload(p, payloads[i]!)).toBe(true));
        }
      }),
      { numRuns: 120 },
    );
  });

  it('rejects any flipped bit in any field of a v2 payload (every metadata value and the data), never yielding a payload', async () => {
    const codec = new EnvelopeCodec({ keyProviders: ring, keyHierarchy: 'branch', compression: 'deflate', compressionMinBytes: 1 });
    const reader = new EnvelopeCodec({ keyProviders: ring });
    await fc.assert(
      fc.asyncProperty(payloadArb, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), async (payload, which, at, bit) => {
        const [sealed] = await codec.encode([{ ...payload, data: new Uint8Array(64) }], wf('default', 'wf-1'));
        const fields = [...Object.keys(sealed!.metadata!).filter((k) => k !== 'encoding'), 'data'];
        const field = fields[which % fields.length]!;
        const value = Uint8Array.from(field === 'data' ? sealed!.data! : sealed!.metadata![field]!);
        value[at % value.length]! ^= 1 << bit;
        const altered = field === 'data' ? { metadata: sealed!.metadata, data: value } : { metadata: { ...sealed!.metadata, [field]: value }, data: sealed!.data };
        const err = await reader.decode([altered]).catch((e: unknown) => e);
        expect(isEnvelopeError(err), `${field}: ${String(err)}`).toBe(true);
        expect(['TAMPERED_CIPHERTEXT', 'UNKNOWN_KEY', 'UNSUPPORTED_FORMAT', 'MALFORMED_PAYLOAD']).toContain((err as { code: string }).code);
      }),
      { numRuns: 300 },
    );
  });

  it('a payload cut to another scope fails: in the other workflow as SCOPE_MISMATCH, with its header rewritten to match as TAMPERED_CIPHERTEXT', async () => {
    const codec = new EnvelopeCodec({ keyProviders: ring, keyHierarchy: 'branch' });
    const utf8 = new TextEncoder();
    await fc.assert(
      fc.asyncProperty(payloadArb, idArb, idArb, idArb, async (payload, ns, a, b) => {
        fc.pre(a !== b && ns !== b);
        const [sealed] = await codec.encode([payload], wf(ns, a));
        await expect(codec.decode([sealed!], wf(ns, b))).rejects.toMatchObject({ code: 'SCOPE_MISMATCH' });
        await expect(codec.decode([sealed!], wf(b, a))).rejects.toMatchObject({ code: 'SCOPE_MISMATCH' });
        const toWorkflow = { ...sealed!, metadata: { ...sealed!.metadata, 'envelope-workflow-id': utf8.encode(b) } };
        await expect(codec.decode([toWorkflow], wf(ns, b))).rejects.toMatchObject({ code: 'TAMPERED_CIPHERTEXT' });
        const toNamespace = { ...sealed!, metadata: { ...sealed!.metadata, 'envelope-namespace': utf8.encode(b) } };
        await expect(codec.decode([toNamespace], wf(b, a))).rejects.toMatchObject({ code: 'TAMPERED_CIPHERTEXT' });
      }),
      { numRuns: 100 },
    );
  });

  it('distinct workflows get distinct data keys under one branch key, from one KEK call', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(idArb, { minLength: 2, maxLength: 30 }), idArb, async (ids, ns) => {
        const kek = new CountingProvider(ring);
        const branch = new BranchKeyProvider(kek, { keyHierarchy: 'branch' });
        const keys = await Promise.all([...ids, ids[0]!].map((id) => branch.generateDataKey(makeScope(ns, id))));
        expect(kek.generated).toBe(1);
        const pairs = keys.map((k) => unpackBranchWrapped(k.wrapped)!);
        expect(new Set(pairs.map((p) => Buffer.from(p.wrappedBranchKey).toString('hex'))).size).toBe(1);
        // Every data key distinct, the same workflow's second key too (a fresh salt).
        expect(new Set(keys.map((k) => Buffer.from(k.plaintext).toString('hex'))).size).toBe(keys.length);
        // And each opens again to itself, for its own scope only.
        for (const [i, k] of keys.entries()) {
          const id = i < ids.length ? ids[i]! : ids[0]!;
          expect(Buffer.from(await branch.decryptDataKey(k.keyId, k.wrapped, makeScope(ns, id))).equals(Buffer.from(k.plaintext))).toBe(true);
        }
        await branch.close();
      }),
      { numRuns: 40 },
    );
  });
});

describe('branch-key cache', () => {
  it('one KEK call per namespace however many workflows, and one per distinct branch key for a reader', async () => {
    const { codec, kms } = clocked();
    const sealed: { id: string; ns: string; p: Payload }[] = [];
    for (let i = 0; i < 1000; i++) {
      const ns = i % 2 === 0 ? 'default' : 'payments';
      sealed.push({ id: `wf-${i}`, ns, p: (await codec.encode([jsonPayload({ i })], wf(ns, `wf-${i}`)))[0]! });
    }
    expect(kms.generated).toBe(2);
    for (const s of sealed) await codec.decode([s.p], wf(s.ns, s.id));
    expect(kms.decrypted).toBe(0);

    const reader = new CountingProvider(kms.inner);
    const other = new EnvelopeCodec({ keyProviders: reader });
    for (const s of sealed) await other.decode([s.p], wf(s.ns, s.id));
    expect(reader.decrypted).toBe(2);
    expect(reader.generated).toBe(0);
  });

  it('coalesces concurrent first uses of a namespace, sealing and opening, into one KEK call each', async () => {
    const { codec, kms } = clocked();
    let release!: () => void;
    kms.gate = new Promise((r) => (release = r));
    const pending = Promise.all(Array.from({ length: 50 }, (_, i) => codec.encode([jsonPayload(i)], wf('default', `wf-${i}`))));
    await new Promise((r) => setTimeout(r, 10));
    release();
    const results = await pending;
    expect(kms.generated).toBe(1);

    const reader = new CountingProvider(kms.inner);
    reader.gate = new Promise((r) => setTimeout(r, 10));
    const cold = new EnvelopeCodec({ keyProviders: reader });
    await Promise.all(results.map((r, i) => cold.decode(r, wf('default', `wf-${i}`))));
    expect(reader.decrypted).toBe(1);
  });

  it('makes a new branch key after branchKeyMaxAgeMs, and wipes the old one once it expires', async () => {
    const { codec, kms, advance } = clocked({ branchKeyMaxAgeMs: 60_000, cache: { maxAgeMs: 10_000, staleGraceMs: 1000, decryptMaxAgeMs: 60_000 } });
    await codec.encode([jsonPayload(1)], wf('default', 'a'));
    advance(59_000);
    await codec.encode([jsonPayload(2)], wf('default', 'b'));
    expect(kms.generated).toBe(1);
    advance(2000);
    await codec.encode([jsonPayload(3)], wf('default', 'c'));
    expect(kms.generated).toBe(2);

    // Past age + grace for sealing, past decryptMaxAgeMs for opening: purged, and the bytes zeroed.
    const branch = branchLayer(codec);
    expect(branch.stats()).toEqual({ sealingEntries: 1, openingEntries: 2 });
    const fill = vi.spyOn(Uint8Array.prototype, 'fill');
    advance(62_000);
    branch.purgeExpired();
    expect(branch.stats()).toEqual({ sealingEntries: 0, openingEntries: 0 });
    const zeroed = fill.mock.contexts.filter((a, i) => (a as Uint8Array).length === 32 && fill.mock.calls[i]![0] === 0 && (a as Uint8Array).every((b) => b === 0));
    expect(zeroed.length).toBeGreaterThanOrEqual(3);
  });

  it('keeps deriving from a branch key past its age while KMS is down, within the grace period, then fails retryably', async () => {
    const { codec, kms, advance } = clocked({ branchKeyMaxAgeMs: 60_000, cache: { maxAgeMs: 1000, staleGraceMs: 30_000 } });
    await codec.encode([jsonPayload(1)], wf('default', 'a'));
    kms.failWith = new KmsUnavailableError('KMS is down (test)');
    advance(70_000); // the branch key is 10 s past its age: within grace
    const [p] = await codec.encode([jsonPayload(2)], wf('default', 'new-workflow'));
    expect(versionOf(p!)).toBe('2');
    advance(25_000); // 35 s past its age: beyond grace
    await expect(codec.encode([jsonPayload(3)], wf('default', 'another'))).rejects.toMatchObject({ code: 'KMS_UNAVAILABLE', retryable: true });
    kms.failWith = undefined;
    await codec.encode([jsonPayload(4)], wf('default', 'another'));
  });

  it('takes a new branch key under the new primary KEK after a rotation, and still opens payloads of the old one', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'te-branch-rotate-'));
    try {
      const file = path.join(dir, 'keyring.json');
      const doc = newKeyringDocument();
      await writeKeyring(file, doc);
      const live = await LocalKeyring.open({ path: file, watchIntervalMs: 0 });
      const kms = new CountingProvider(live);
      const codec = new EnvelopeCodec({ keyProviders: kms, keyHierarchy: 'branch' });
      const [before] = await codec.encode([jsonPayload('before')], wf('default', 'a'));
      rotateDocument(doc);
      await writeKeyring(file, doc);
      await live.reload();
      const [after] = await codec.encode([jsonPayload('after')], wf('default', 'b'));
      expect(kms.generated).toBe(2);
      const keyId = (p: Payload) => new TextDecoder().decode(p.metadata!['encryption-key-id']);
      expect(keyId(after!)).toBe(live.primaryKeyId());
      expect(keyId(before!)).not.toBe(keyId(after!));
      const reader = new EnvelopeCodec({ keyProviders: LocalKeyring.fromDocument(doc) });
      expect(samePayload((await reader.decode([before!], wf('default', 'a')))[0]!, jsonPayload('before'))).toBe(true);
      live.close();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('tells the observer about calls that reach the KEK provider only: a derived data key is not a KMS call', async () => {
    const calls: string[] = [];
    const kms = new CountingProvider(ring);
    const observer = { onKmsCall: (op: string, provider: string, outcome: string) => calls.push(`${op}:${provider}:${outcome}`) };
    const writer = new EnvelopeCodec({ keyProviders: kms, keyHierarchy: 'branch', observer });
    const sealed = [];
    for (let i = 0; i < 20; i++) sealed.push((await writer.encode([jsonPayload(i)], wf('default', `w${i}`)))[0]!);
    expect(calls).toEqual(['generate:local:ok']);
    const perWorkflow = new EnvelopeCodec({ keyProviders: kms, observer });
    await perWorkflow.encode([jsonPayload('v1')], wf('default', 'v1'));
    for (const [i, s] of sealed.entries()) await perWorkflow.decode([s], wf('default', `w${i}`));
    expect(calls).toEqual(['generate:local:ok', 'generate:local:ok', 'decrypt:local:ok']);
  });
});

describe('the branch-key layer in its place', () => {
  it('goes under a ShreddableKeyProvider: a shreddable v2 payload opens with the secret, and not once it is shredded', async () => {
    const store = new MemoryScopeSecretStore();
    const kms = new CountingProvider(ring);
    const codec = new EnvelopeCodec({ keyProviders: new ShreddableKeyProvider(kms, store), keyHierarchy: 'branch' });
    const [a] = await codec.encode([jsonPayload('alice')], wf('default', 'customer-alice'));
    const [b] = await codec.encode([jsonPayload('bob')], wf('default', 'customer-bob'));
    expect(versionOf(a!)).toBe('2');
    expect(new TextDecoder().decode(a!.metadata!['encryption-key-id'])).toBe(`shred:${ring.primaryKeyId()}`);
    expect(kms.generated).toBe(1); // one branch key for both workflows; the secret is per workflow

    await store.shred(makeScope('default', 'customer-alice'));
    const reader = new EnvelopeCodec({ keyProviders: new ShreddableKeyProvider(ring, store) });
    await expect(reader.decode([a!], wf('default', 'customer-alice'))).rejects.toMatchObject({ code: 'KEY_SHREDDED' });
    expect(samePayload((await reader.decode([b!], wf('default', 'customer-bob')))[0]!, jsonPayload('bob'))).toBe(true);
    // The writer forgets the scope (as forgetShreddedScopes makes it) and cannot open or seal it again.
    codec.keys.forgetScope(makeScope('default', 'customer-alice'));
    await expect(codec.decode([a!], wf('default', 'customer-alice'))).rejects.toMatchObject({ code: 'KEY_SHREDDED' });
    await expect(codec.encode([jsonPayload('again')], wf('default', 'customer-alice'))).rejects.toMatchObject({ code: 'KEY_SHREDDED' });
  });

  it('refuses the layers the wrong way round: a shred secret never mixes into a branch key', async () => {
    const hidden = new ForwardingProvider(new ShreddableKeyProvider(ring, new MemoryScopeSecretStore()));
    expect(() => new EnvelopeCodec({ keyProviders: hidden, keyHierarchy: 'branch' })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringMatching(/outermost/) }));
    await expect(new ShreddableKeyProvider(ring, new MemoryScopeSecretStore()).generateDataKey(branchKeyScope('default'))).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
  });

  it('refuses branch mode over a KEK provider that would wrap a branch key like a namespace data key', async () => {
    const naive: KeyProvider = {
      name: 'naive',
      primaryKeyId: () => ring.primaryKeyId(),
      handles: (id) => ring.handles(id),
      generateDataKey: (s) => ring.generateDataKey(s),
      decryptDataKey: (id, w, s) => ring.decryptDataKey(id, w, s),
      listKeys: () => ring.listKeys(),
      checkReady: () => ring.checkReady(),
    };
    expect(() => new EnvelopeCodec({ keyProviders: naive, keyHierarchy: 'branch' })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    const [v2] = await new EnvelopeCodec({ keyProviders: ring, keyHierarchy: 'branch' }).encode([jsonPayload('x')], wf('default', 'w'));
    await expect(new EnvelopeCodec({ keyProviders: naive }).decode([v2!], wf('default', 'w'))).rejects.toMatchObject({ code: 'UNSUPPORTED_FORMAT' });
    // v1 is unaffected.
    const [v1] = await new EnvelopeCodec({ keyProviders: naive }).encode([jsonPayload('y')], wf('default', 'w'));
    expect(versionOf(v1!)).toBe('1');
  });

  it("close() wipes the codec's branch keys and data keys, and leaves its providers open", async () => {
    const codec = new EnvelopeCodec({ keyProviders: ring, keyHierarchy: 'branch' });
    await codec.encode([jsonPayload('x')], wf('default', 'w'));
    expect(branchLayer(codec).stats()).toEqual({ sealingEntries: 1, openingEntries: 1 });
    codec.close();
    expect(branchLayer(codec).stats()).toEqual({ sealingEntries: 0, openingEntries: 0 });
    expect(codec.keys.stats()).toEqual({ encryptEntries: 0, decryptEntries: 0 });
    await expect(ring.generateDataKey(makeScope('default'))).resolves.toBeDefined();
  });

  it('keys usage and retirement see v2 payloads by their KEK: peekScope reads scope and key id without a key; a retired KEK no longer unwraps branch keys', async () => {
    const doc = newKeyringDocument();
    const codec = new EnvelopeCodec({ keyProviders: LocalKeyring.fromDocument(structuredClone(doc)), keyHierarchy: 'branch' });
    const [sealed] = await codec.encode([jsonPayload('x')], wf('billing', 'invoice-9'));
    expect(peekScope(sealed!)).toEqual({ scope: makeScope('billing', 'invoice-9'), keyId: doc.keys[0]!.id });
    rotateDocument(doc);
    retireInDocument(doc, doc.keys[0]!.id);
    await expect(new EnvelopeCodec({ keyProviders: LocalKeyring.fromDocument(doc) }).decode([sealed!], wf('billing', 'invoice-9'))).rejects.toMatchObject({ code: 'KEY_RETIRED' });
  });

  it('validates its options by name', () => {
    expect(() => new EnvelopeCodec({ keyProviders: ring, keyHierarchy: 'tree' as never })).toThrow(/codec "keyHierarchy" expected "per-workflow" or "branch", got "tree"/);
    expect(() => new EnvelopeCodec({ keyProviders: ring, keyHierarchy: 'branch', branchKeyMaxAgeMs: 0 })).toThrow(/"branchKeyMaxAgeMs" expected a positive whole number, got 0/);
    expect(() => withBranchKeys(ring, { branchKeyMaxAgeMs: 1.5 })).toThrow(/"branchKeyMaxAgeMs"/);
  });

  it('the per-workflow hierarchy seals v1 exactly as before: one data key per workflow from the KEK provider', async () => {
    const kms = new CountingProvider(ring);
    const codec = new EnvelopeCodec({ keyProviders: kms });
    expect(codec.keyHierarchy).toBe('per-workflow');
    for (let i = 0; i < 5; i++) expect(versionOf((await codec.encode([jsonPayload(i)], wf('default', `w${i}`)))[0]!)).toBe('1');
    expect(kms.generated).toBe(5);
  });
});

describe('HKDF-SHA256', () => {
  it("agrees with node's hkdfSync where that applies, and takes info beyond its 1024 bytes", async () => {
    const { hkdfSync } = await import('node:crypto');
    fc.assert(
      fc.property(bytes(64), bytes(64), bytes(1024), fc.integer({ min: 1, max: 32 }), (ikm, salt, info, n) => {
        expect(Buffer.from(hkdfSha256(ikm, salt, info, n)).equals(Buffer.from(hkdfSync('sha256', ikm, salt, info, n)))).toBe(true);
      }),
      { numRuns: 200 },
    );
    expect(hkdfSha256(new Uint8Array(32), new Uint8Array(32), new Uint8Array(2100))).toHaveLength(32);
    // RFC 5869 test case 1.
    const okm = hkdfSha256(Buffer.from('0b'.repeat(22), 'hex'), Buffer.from('000102030405060708090a0b0c', 'hex'), Buffer.from('f0f1f2f3f4f5f6f7f8f9', 'hex'), 32);
    expect(Buffer.from(okm).toString('hex')).toBe('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf');
  });
});

function branchLayer(codec: EnvelopeCodec): BranchKeyProvider {
  // The layer the codec put over its first provider.
  return (codec as unknown as { branchLayers: BranchKeyProvider[] }).branchLayers[0]!;
}
