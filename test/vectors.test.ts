import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EnvelopeCodec, LocalKeyring, makeScope, type AeadAlgorithm, type Compression } from '../codecs/index.js';
import type { KeyringDocument } from '../keys/keyring-file.js';
import { deterministicRandom } from './support/deterministic-random.js';
import { fromProtoJson, samePayload, toProtoJson } from './support/payloads.js';

interface VectorFile {
  keyring: KeyringDocument;
  valid: { name: string; algorithm: AeadAlgorithm; compression: Compression | false; namespace: string; workflowId: string | null; input: unknown; sealed: unknown }[];
  invalid: { name: string; code: string; sealed: unknown }[];
}

const vectors = JSON.parse(readFileSync(new URL('./vectors/envelope-v1.json', import.meta.url), 'utf8')) as VectorFile;

describe('known-answer vectors, format v1', () => {
  const ring = LocalKeyring.fromDocument(structuredClone(vectors.keyring));
  const codec = new EnvelopeCodec({ keyProviders: ring });

  it('has vectors for both algorithms, compression and a pre-rotation KEK', () => {
    expect(vectors.valid.length).toBeGreaterThanOrEqual(7);
    expect(new Set(vectors.valid.map((v) => v.algorithm))).toEqual(new Set(['AES-256-GCM', 'XCHACHA20-POLY1305']));
    expect(vectors.valid.some((v) => v.compression === 'deflate')).toBe(true);
    expect(vectors.invalid.length).toBeGreaterThanOrEqual(10);
  });

  for (const v of vectors.valid) {
    it(`opens: ${v.name}`, async () => {
      const context = v.workflowId === null ? undefined : { type: 'workflow' as const, namespace: v.namespace, workflowId: v.workflowId };
      const [opened] = await codec.decode([fromProtoJson(v.sealed)], context);
      expect(samePayload(opened!, fromProtoJson(v.input))).toBe(true);
    });

    it(`re-seals to the same bytes: ${v.name}`, async () => {
      const random = deterministicRandom(`vector:${v.name}`);
      const doc = structuredClone(vectors.keyring);
      const kek = new TextDecoder().decode(fromProtoJson(v.sealed).metadata!['encryption-key-id']!);
      for (const k of doc.keys) k.state = k.id === kek ? 'primary' : 'decrypt-only';
      const sealer = new EnvelopeCodec({
        keyProviders: LocalKeyring.fromDocument(doc, { random }),
        algorithm: v.algorithm,
        compression: v.compression,
        compressionMinBytes: 256,
        random,
      });
      const [sealed] = await sealer.encodeInScope([fromProtoJson(v.input)], makeScope(v.namespace, v.workflowId ?? undefined));
      expect(samePayload(sealed!, fromProtoJson(v.sealed))).toBe(true);
      expect(toProtoJson(sealed!).data).toBe((v.sealed as { data: string }).data);
    });
  }

  for (const v of vectors.invalid) {
    it(`rejects with ${v.code}: ${v.name}`, async () => {
      await expect(codec.decode([fromProtoJson(v.sealed)])).rejects.toMatchObject({ code: v.code });
    });
  }
});
