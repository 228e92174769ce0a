import { readFileSync } from 'node:fs';
import type { SerializationContext } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { EnvelopeCodec, LocalKeyring, makeScope, type AeadAlgorithm, type Compression } from '../codecs/index.js';
import type { KeyringDocument } from '../keys/keyring-file.js';
import { ShreddableKeyProvider } from '../keys/shreddable-provider.js';
import { branchKeyScope, deriveBranchDataKey } from '../primitives/branch-key.js';
import { parseHeader } from '../primitives/format.js';
import { MemoryScopeSecretStore } from './support/memory-shred-store.js';
import { fromProtoJson, samePayload, toProtoJson } from './support/payloads.js';
import { V2_CASES, sealCase } from './vectors/generate-v2.js';

interface Vector {
  name: string;
  algorithm: AeadAlgorithm;
  compression: Compression | false;
  namespace: string;
  workflowId: string | null;
  input: unknown;
  sealed: { metadata: Record<string, string>; data: string };
  branchKey: string;
  dataKey: string;
  shredSecret?: string;
}
interface VectorFile {
  format: string;
  keyring: KeyringDocument;
  valid: Vector[];
  shreddable: Vector[];
  invalid: { name: string; code: string; sealed: unknown; openIn?: { namespace: string; workflowId: string | null } }[];
}

const vectors = JSON.parse(readFileSync(new URL('./vectors/envelope-v2.json', import.meta.url), 'utf8')) as VectorFile;
const contextOf = (v: { namespace: string; workflowId: string | null }): SerializationContext | undefined =>
  v.workflowId === null ? undefined : { type: 'workflow', namespace: v.namespace, workflowId: v.workflowId };
const meta = (v: Vector, key: string) => new Uint8Array(Buffer.from(v.sealed.metadata[key]!, 'base64'));

describe('known-answer vectors, format v2 (branch keys)', () => {
  const ring = LocalKeyring.fromDocument(structuredClone(vectors.keyring));
  // The default hierarchy: a codec that seals format v1 opens format v2 all the same.
  const codec = new EnvelopeCodec({ keyProviders: ring });

  it('covers both algorithms, both scopes, deflate, a pre-rotation KEK, a shreddable payload and every header field altered', () => {
    expect(vectors.format).toBe('temporal-envelope/v2');
    expect(new Set(vectors.valid.map((v) => v.algorithm))).toEqual(new Set(['AES-256-GCM', 'XCHACHA20-POLY1305']));
    expect(vectors.valid.some((v) => v.workflowId === null) && vectors.valid.some((v) => v.workflowId !== null)).toBe(true);
    expect(vectors.valid.some((v) => v.compression === 'deflate')).toBe(true);
    expect(new Set(vectors.valid.map((v) => Buffer.from(v.sealed.metadata['encryption-key-id']!, 'base64').toString()))).toEqual(new Set(['local-1-7e570001', 'local-2-7e570002']));
    expect(vectors.shreddable.length).toBeGreaterThanOrEqual(1);
    const altered = new Set(vectors.invalid.flatMap((v) => Object.keys((v.sealed as { metadata: object }).metadata)));
    for (const field of ['encryption-key-id', 'envelope-version', 'envelope-alg', 'envelope-namespace', 'envelope-workflow-id', 'envelope-branch-key', 'envelope-dek-salt', 'envelope-compression']) {
      expect(altered, field).toContain(field);
    }
    for (const v of [...vectors.valid, ...vectors.shreddable]) {
      expect(Buffer.from(v.sealed.metadata['envelope-version']!, 'base64').toString()).toBe('2');
      expect(v.sealed.metadata['envelope-dek']).toBeUndefined();
    }
  });

  for (const v of vectors.valid) {
    it(`opens: ${v.name}`, async () => {
      const [opened] = await codec.decode([fromProtoJson(v.sealed)], contextOf(v));
      expect(samePayload(opened!, fromProtoJson(v.input))).toBe(true);
    });

    it(`re-seals to the same bytes: ${v.name}`, async () => {
      const c = V2_CASES.find((x) => x.name === v.name)!;
      expect(toProtoJson(await sealCase(c))).toEqual(v.sealed);
    });

    it(`its branch key unwraps, and its data key derives, to the published values: ${v.name}`, async () => {
      const kek = Buffer.from(v.sealed.metadata['encryption-key-id']!, 'base64').toString();
      const branchKey = await ring.decryptDataKey(kek, meta(v, 'envelope-branch-key'), branchKeyScope(v.namespace));
      expect(Buffer.from(branchKey).toString('base64')).toBe(v.branchKey);
      const dataKey = deriveBranchDataKey(branchKey, meta(v, 'envelope-dek-salt'), makeScope(v.namespace, v.workflowId ?? undefined));
      expect(Buffer.from(dataKey).toString('base64')).toBe(v.dataKey);
    });

    it(`a version-1-only reader answers UNSUPPORTED_FORMAT: ${v.name}`, () => {
      // parseHeader is version 1's parser, the one a build without format v2 runs: it reads the version first.
      expect(() => parseHeader(fromProtoJson(v.sealed))).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_FORMAT' }));
    });
  }

  for (const v of vectors.invalid) {
    it(`rejects with ${v.code}: ${v.name}`, async () => {
      await expect(codec.decode([fromProtoJson(v.sealed)], v.openIn && contextOf(v.openIn))).rejects.toMatchObject({ code: v.code });
    });
  }

  for (const v of vectors.shreddable) {
    const scope = makeScope(v.namespace, v.workflowId ?? undefined);
    it(`crypto-shreddable: opens with its scope's secret, and not once the secret is shredded: ${v.name}`, async () => {
      const store = new MemoryScopeSecretStore();
      store.seed(scope, Buffer.from(v.shredSecret!, 'base64'));
      const shreddable = new EnvelopeCodec({ keyProviders: new ShreddableKeyProvider(LocalKeyring.fromDocument(structuredClone(vectors.keyring)), store) });
      const [opened] = await shreddable.decode([fromProtoJson(v.sealed)], contextOf(v));
      expect(samePayload(opened!, fromProtoJson(v.input))).toBe(true);
      expect(toProtoJson(await sealCase(V2_CASES.find((x) => x.name === v.name)!))).toEqual(v.sealed);

      await store.shred(scope);
      const fresh = new EnvelopeCodec({ keyProviders: new ShreddableKeyProvider(LocalKeyring.fromDocument(structuredClone(vectors.keyring)), store) });
      await expect(fresh.decode([fromProtoJson(v.sealed)], contextOf(v))).rejects.toMatchObject({ code: 'KEY_SHREDDED' });
      // Without the shred store its "shred:" key id names no provider.
      await expect(codec.decode([fromProtoJson(v.sealed)], contextOf(v))).rejects.toMatchObject({ code: 'UNKNOWN_KEY' });
    });
  }
});
