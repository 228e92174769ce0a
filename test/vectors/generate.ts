/**
 * Regenerates test/vectors/envelope-v1.json. Run only when adding vectors: existing vectors must
 * keep opening in every later version, so never edit or drop a committed one.
 *
 *   npx tsx test/vectors/generate.ts > test/vectors/envelope-v1.json
 */
import type { Payload } from '@temporalio/common';
import { EnvelopeCodec, LocalKeyring, makeScope, type AeadAlgorithm, type Compression } from '../../codecs/index.js';
import { KEYRING_FORMAT, type KeyringDocument } from '../../keys/keyring-file.js';
import { deterministicRandom } from '../support/deterministic-random.js';
import { jsonPayload, toProtoJson } from '../support/payloads.js';

const keyringRandom = deterministicRandom('temporal-envelope test vectors: KEK (TEST ONLY, NOT SECRET)');
export const VECTOR_KEYRING: KeyringDocument = {
  format: KEYRING_FORMAT,
  keys: [
    { id: 'local-1-7e570001', version: 1, state: 'decrypt-only', created: '2026-11-24T00:00:00.000Z', material: Buffer.from(keyringRandom(32)).toString('base64') },
    { id: 'local-2-7e570002', version: 2, state: 'primary', created: '2026-11-24T00:00:00.000Z', material: Buffer.from(keyringRandom(32)).toString('base64') },
  ],
};

export interface Case {
  name: string;
  algorithm: AeadAlgorithm;
  compression: Compression | false;
  namespace: string;
  workflowId?: string;
  input: Payload;
  /** Seal under this KEK as primary (default: the keyring's primary), e.g. a payload from before a rotation. */
  kek?: string;
}

const big = jsonPayload({ note: 'repetitive text compresses well '.repeat(64) });
const cases: Case[] = [
  { name: 'aes-gcm workflow scope', algorithm: 'AES-256-GCM', compression: false, namespace: 'default', workflowId: 'grant-42', input: jsonPayload({ token: 'dlg_test_only', email: 'ada@example.com' }) },
  { name: 'aes-gcm namespace scope', algorithm: 'AES-256-GCM', compression: false, namespace: 'tenant-a', input: jsonPayload('approve') },
  { name: 'xchacha workflow scope', algorithm: 'XCHACHA20-POLY1305', compression: false, namespace: 'default', workflowId: 'grant-43', input: jsonPayload([1, 2, 3]) },
  { name: 'aes-gcm deflate', algorithm: 'AES-256-GCM', compression: 'deflate', namespace: 'default', workflowId: 'grant-44', input: big },
  { name: 'empty data, unicode workflow id', algorithm: 'AES-256-GCM', compression: false, namespace: 'default', workflowId: 'wf-ünïcødé-✓', input: { metadata: { encoding: new TextEncoder().encode('binary/null') } } },
  { name: 'sealed before rotation under KEK v1', algorithm: 'AES-256-GCM', compression: false, namespace: 'default', workflowId: 'grant-41', input: jsonPayload({ grant: 'db-admin' }), kek: 'local-1-7e570001' },
  { name: 'binary payload with extra metadata', algorithm: 'XCHACHA20-POLY1305', compression: false, namespace: 'ns.with.dots', workflowId: 'x', input: { metadata: { encoding: new TextEncoder().encode('binary/plain'), 'custom-key': new Uint8Array([0, 255, 1]) }, data: new Uint8Array([0, 1, 2, 254, 255]) } },
];

export async function generate(): Promise<unknown> {
  const out = [];
  for (const c of cases) {
    const random = deterministicRandom(`vector:${c.name}`);
    const doc = structuredClone(VECTOR_KEYRING);
    if (c.kek !== undefined) for (const k of doc.keys) k.state = k.id === c.kek ? 'primary' : 'decrypt-only';
    const ring = LocalKeyring.fromDocument(doc, { random });
    const codec = new EnvelopeCodec({ keyProviders: ring, algorithm: c.algorithm, compression: c.compression, compressionMinBytes: 256, random });
    const [sealed] = await codec.encodeInScope([c.input], makeScope(c.namespace, c.workflowId));
    out.push({ name: c.name, algorithm: c.algorithm, compression: c.compression, namespace: c.namespace, workflowId: c.workflowId ?? null, input: toProtoJson(c.input), sealed: toProtoJson(sealed!) });
  }
  const first = out[0]!.sealed as { metadata: Record<string, string>; data: string };
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const withMeta = (k: string, v: string | undefined) => {
    const metadata = { ...first.metadata };
    if (v === undefined) delete metadata[k];
    else metadata[k] = v;
    return { metadata, data: first.data };
  };
  const data = Buffer.from(first.data, 'base64');
  const flipped = Buffer.from(data);
  flipped[flipped.length - 1]! ^= 0x01;
  const wrapped = Buffer.from(first.metadata['envelope-dek']!, 'base64');
  wrapped[20]! ^= 0x80;
  const invalid = [
    { name: 'last tag bit flipped', code: 'TAMPERED_CIPHERTEXT', sealed: { metadata: first.metadata, data: flipped.toString('base64') } },
    { name: 'truncated to 10 bytes', code: 'TAMPERED_CIPHERTEXT', sealed: { metadata: first.metadata, data: data.subarray(0, 10).toString('base64') } },
    { name: 'workflow id swapped (cut and paste)', code: 'TAMPERED_CIPHERTEXT', sealed: withMeta('envelope-workflow-id', b64('grant-666')) },
    { name: 'workflow id removed (promoted to namespace scope)', code: 'TAMPERED_CIPHERTEXT', sealed: withMeta('envelope-workflow-id', undefined) },
    { name: 'namespace swapped', code: 'TAMPERED_CIPHERTEXT', sealed: withMeta('envelope-namespace', b64('other')) },
    { name: 'wrapped DEK altered', code: 'TAMPERED_CIPHERTEXT', sealed: withMeta('envelope-dek', wrapped.toString('base64')) },
    { name: 'algorithm relabelled', code: 'TAMPERED_CIPHERTEXT', sealed: withMeta('envelope-alg', b64('XCHACHA20-POLY1305')) },
    { name: 'unknown key id', code: 'UNKNOWN_KEY', sealed: withMeta('encryption-key-id', b64('local-9-deadbeef')) },
    { name: 'future format version', code: 'UNSUPPORTED_FORMAT', sealed: withMeta('envelope-version', b64('2')) },
    { name: 'unknown algorithm', code: 'UNSUPPORTED_FORMAT', sealed: withMeta('envelope-alg', b64('ROT13')) },
    { name: 'unknown compression', code: 'UNSUPPORTED_FORMAT', sealed: withMeta('envelope-compression', b64('zstd')) },
    { name: 'wrapped DEK missing', code: 'MALFORMED_PAYLOAD', sealed: withMeta('envelope-dek', undefined) },
    { name: 'key id not UTF-8', code: 'MALFORMED_PAYLOAD', sealed: withMeta('encryption-key-id', Buffer.from([0xff, 0xfe]).toString('base64')) },
  ];
  return { format: 'temporal-envelope/v1', note: 'TEST ONLY: keys below are published test keys and protect nothing.', keyring: VECTOR_KEYRING, valid: out, invalid };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await generate(), null, 2)}\n`);
}
