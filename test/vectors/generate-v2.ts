/**
 * Regenerates test/vectors/envelope-v2.json: format version 2, data keys derived from a branch key
 * per namespace (docs/wire-format.md, "Version 2"). Run only when adding vectors: committed ones
 * must keep opening in every later version, so never edit or drop one.
 *
 *   npx tsx test/vectors/generate-v2.ts > test/vectors/envelope-v2.json
 *
 * Same keyring as envelope-v1.json (published test keys), each vector sealed with its own seeded
 * stream in place of the random source, so re-sealing gives the same bytes.
 */
import type { Payload } from '@temporalio/common';
import { EnvelopeCodec, LocalKeyring, makeScope, type KeyProvider } from '../../codecs/index.js';
import { ShreddableKeyProvider } from '../../keys/shreddable-provider.js';
import { branchKeyScope, deriveBranchDataKey } from '../../primitives/branch-key.js';
import { deterministicRandom } from '../support/deterministic-random.js';
import { MemoryScopeSecretStore } from '../support/memory-shred-store.js';
import { jsonPayload, toProtoJson } from '../support/payloads.js';
import { VECTOR_KEYRING, generate as generateV1, type Case } from './generate.js';

export interface V2Case extends Case {
  /** Crypto-shreddable: the scope's secret is the case's published test secret (shredSecretOf). */
  shreddable?: boolean;
}

const utf8 = new TextEncoder();
const big = jsonPayload({ note: 'repetitive text compresses well '.repeat(64) });

export const V2_CASES: V2Case[] = [
  { name: 'aes-gcm workflow scope', algorithm: 'AES-256-GCM', compression: false, namespace: 'default', workflowId: 'grant-42', input: jsonPayload({ token: 'dlg_test_only', email: 'ada@example.com' }) },
  { name: 'aes-gcm namespace scope', algorithm: 'AES-256-GCM', compression: false, namespace: 'tenant-a', input: jsonPayload('approve') },
  { name: 'xchacha workflow scope', algorithm: 'XCHACHA20-POLY1305', compression: false, namespace: 'default', workflowId: 'grant-43', input: jsonPayload([1, 2, 3]) },
  { name: 'xchacha namespace scope', algorithm: 'XCHACHA20-POLY1305', compression: false, namespace: 'tenant-b', input: jsonPayload({ n: 1 }) },
  { name: 'aes-gcm deflate', algorithm: 'AES-256-GCM', compression: 'deflate', namespace: 'default', workflowId: 'grant-44', input: big },
  { name: 'xchacha deflate', algorithm: 'XCHACHA20-POLY1305', compression: 'deflate', namespace: 'default', workflowId: 'grant-45', input: big },
  { name: 'empty data, unicode workflow id', algorithm: 'AES-256-GCM', compression: false, namespace: 'default', workflowId: 'wf-ünïcødé-✓-😀', input: { metadata: { encoding: utf8.encode('binary/null') } } },
  { name: 'sealed before rotation under KEK v1', algorithm: 'AES-256-GCM', compression: false, namespace: 'default', workflowId: 'grant-41', input: jsonPayload({ grant: 'db-admin' }), kek: 'local-1-7e570001' },
  {
    name: 'binary payload with extra metadata',
    algorithm: 'XCHACHA20-POLY1305',
    compression: false,
    namespace: 'ns.with.dots',
    workflowId: 'x',
    input: { metadata: { encoding: utf8.encode('binary/plain'), 'custom-key': new Uint8Array([0, 255, 1]) }, data: new Uint8Array([0, 1, 2, 254, 255]) },
  },
  { name: 'workflow id of 1024 bytes (HKDF info over 1024 bytes)', algorithm: 'AES-256-GCM', compression: false, namespace: 'n'.repeat(64), workflowId: 'w'.repeat(1024), input: jsonPayload('long scope') },
  { name: 'crypto-shreddable workflow scope', algorithm: 'AES-256-GCM', compression: false, namespace: 'default', workflowId: 'customer-4711', input: jsonPayload({ email: 'ann@example.com' }), shreddable: true },
];

/** The keyring for one case: the vector keyring with that case's KEK primary, drawing from its seeded stream. */
export function vectorKeyring(c: Pick<V2Case, 'kek'>, random: (n: number) => Uint8Array): LocalKeyring {
  const doc = structuredClone(VECTOR_KEYRING);
  if (c.kek !== undefined) for (const k of doc.keys) k.state = k.id === c.kek ? 'primary' : 'decrypt-only';
  return LocalKeyring.fromDocument(doc, { random });
}

/** The published test secret of a shreddable case's scope. */
export function shredSecretOf(c: Pick<V2Case, 'name'>): Uint8Array {
  return deterministicRandom(`vector-v2 shred secret:${c.name} (TEST ONLY, NOT SECRET)`)(32);
}

/** Seal one case as the committed vector was sealed (also what the re-seal test runs). */
export async function sealCase(c: V2Case): Promise<Payload> {
  const random = deterministicRandom(`vector-v2:${c.name}`);
  const scope = makeScope(c.namespace, c.workflowId);
  let provider: KeyProvider = vectorKeyring(c, random);
  if (c.shreddable === true) {
    const store = new MemoryScopeSecretStore();
    store.seed(scope, shredSecretOf(c));
    provider = new ShreddableKeyProvider(provider, store);
  }
  const codec = new EnvelopeCodec({ keyProviders: provider, keyHierarchy: 'branch', algorithm: c.algorithm, compression: c.compression, compressionMinBytes: 256, random });
  const [sealed] = await codec.encodeInScope([c.input], scope);
  return sealed!;
}

const b64 = (b: Uint8Array | string) => Buffer.from(b).toString('base64');

export async function generate(): Promise<unknown> {
  const ring = LocalKeyring.fromDocument(structuredClone(VECTOR_KEYRING));
  const valid = [];
  const shreddable = [];
  for (const c of V2_CASES) {
    const sealed = await sealCase(c);
    const meta = sealed.metadata!;
    // Informational, for implementers checking each step: the unwrapped branch key and the data key derived from it.
    const kek = new TextDecoder().decode(meta['encryption-key-id']).replace(/^shred:/, '');
    const branchKey = await ring.decryptDataKey(kek, meta['envelope-branch-key']!, branchKeyScope(c.namespace));
    const dataKey = deriveBranchDataKey(branchKey, meta['envelope-dek-salt']!, makeScope(c.namespace, c.workflowId));
    const v = {
      name: c.name,
      algorithm: c.algorithm,
      compression: c.compression,
      namespace: c.namespace,
      workflowId: c.workflowId ?? null,
      input: toProtoJson(c.input),
      sealed: toProtoJson(sealed),
      branchKey: b64(branchKey),
      dataKey: b64(dataKey),
    };
    if (c.shreddable === true) shreddable.push({ ...v, shredSecret: b64(shredSecretOf(c)) });
    else valid.push(v);
  }

  const first = valid[0]!.sealed as { metadata: Record<string, string>; data: string };
  const withMeta = (changes: Record<string, string | undefined>, base = first) => {
    const metadata = { ...base.metadata };
    for (const [k, v] of Object.entries(changes)) {
      if (v === undefined) delete metadata[k];
      else metadata[k] = v;
    }
    return { metadata, data: base.data };
  };
  const flip = (value: string, index: number, bit = 0x01) => {
    const bytes = Buffer.from(value, 'base64');
    bytes[index < 0 ? bytes.length + index : index]! ^= bit;
    return bytes.toString('base64');
  };
  const data = Buffer.from(first.data, 'base64');
  const v1First = ((await generateV1()) as { valid: { sealed: { metadata: Record<string, string>; data: string } }[] }).valid[0]!.sealed;
  const { 'envelope-branch-key': branchKey, 'envelope-dek-salt': salt, ...v2Rest } = first.metadata;
  const { 'envelope-dek': v1Dek, ...v1Rest } = v1First.metadata;
  const invalid = [
    { name: 'last tag bit flipped', code: 'TAMPERED_CIPHERTEXT', sealed: { metadata: first.metadata, data: flip(first.data, -1) } },
    { name: 'first nonce bit flipped', code: 'TAMPERED_CIPHERTEXT', sealed: { metadata: first.metadata, data: flip(first.data, 0) } },
    { name: 'truncated to 10 bytes', code: 'TAMPERED_CIPHERTEXT', sealed: { metadata: first.metadata, data: data.subarray(0, 10).toString('base64') } },
    { name: 'workflow id swapped (cut and paste)', code: 'TAMPERED_CIPHERTEXT', sealed: withMeta({ 'envelope-workflow-id': b64('grant-666') }) },
    { name: 'workflow id removed (promoted to namespace scope)', code: 'TAMPERED_CIPHERTEXT', sealed: withMeta({ 'envelope-workflow-id': undefined }) },
    { name: 'workflow id added to a namespace-scoped payload', code: 'TAMPERED_CIPHERTEXT', sealed: withMeta({ 'envelope-workflow-id': b64('grant-42') }, valid[1]!.sealed as typeof first) },
    { name: 'namespace swapped', code: 'TAMPERED_CIPHERTEXT', sealed: withMeta({ 'envelope-namespace': b64('other') }) },
    { name: 'algorithm relabelled', code: 'TAMPERED_CIPHERTEXT', sealed: withMeta({ 'envelope-alg': b64('XCHACHA20-POLY1305') }) },
    { name: 'key id swapped for the other KEK in the keyring', code: 'TAMPERED_CIPHERTEXT', sealed: withMeta({ 'encryption-key-id': b64('local-1-7e570001') }) },
    { name: 'compression claimed', code: 'TAMPERED_CIPHERTEXT', sealed: withMeta({ 'envelope-compression': b64('deflate') }) },
    { name: 'wrapped branch key altered', code: 'TAMPERED_CIPHERTEXT', sealed: withMeta({ 'envelope-branch-key': flip(branchKey!, 20, 0x80) }) },
    { name: 'wrapped branch key of another namespace', code: 'TAMPERED_CIPHERTEXT', sealed: withMeta({ 'envelope-branch-key': (valid[1]!.sealed as typeof first).metadata['envelope-branch-key'] }) },
    { name: 'salt altered', code: 'TAMPERED_CIPHERTEXT', sealed: withMeta({ 'envelope-dek-salt': flip(salt!, 31) }) },
    { name: 'salt of another payload', code: 'TAMPERED_CIPHERTEXT', sealed: withMeta({ 'envelope-dek-salt': (valid[2]!.sealed as typeof first).metadata['envelope-dek-salt'] }) },
    { name: 'unknown key id', code: 'UNKNOWN_KEY', sealed: withMeta({ 'encryption-key-id': b64('local-9-deadbeef') }) },
    { name: 'future format version', code: 'UNSUPPORTED_FORMAT', sealed: withMeta({ 'envelope-version': b64('9') }) },
    { name: 'unknown algorithm', code: 'UNSUPPORTED_FORMAT', sealed: withMeta({ 'envelope-alg': b64('ROT13') }) },
    { name: 'unknown compression', code: 'UNSUPPORTED_FORMAT', sealed: withMeta({ 'envelope-compression': b64('zstd') }) },
    { name: 'version 2 carrying an envelope-dek', code: 'UNSUPPORTED_FORMAT', sealed: withMeta({ 'envelope-dek': branchKey }) },
    { name: 'wrapped branch key missing', code: 'MALFORMED_PAYLOAD', sealed: withMeta({ 'envelope-branch-key': undefined }) },
    { name: 'wrapped branch key empty', code: 'MALFORMED_PAYLOAD', sealed: withMeta({ 'envelope-branch-key': '' }) },
    { name: 'salt missing', code: 'MALFORMED_PAYLOAD', sealed: withMeta({ 'envelope-dek-salt': undefined }) },
    { name: 'salt of 31 bytes', code: 'MALFORMED_PAYLOAD', sealed: withMeta({ 'envelope-dek-salt': Buffer.from(salt!, 'base64').subarray(0, 31).toString('base64') }) },
    { name: 'salt of 33 bytes', code: 'MALFORMED_PAYLOAD', sealed: withMeta({ 'envelope-dek-salt': Buffer.concat([Buffer.from(salt!, 'base64'), Buffer.from([0])]).toString('base64') }) },
    { name: 'key id not UTF-8', code: 'MALFORMED_PAYLOAD', sealed: withMeta({ 'encryption-key-id': b64(new Uint8Array([0xff, 0xfe])) }) },
    { name: 'version relabelled 2 to 1', code: 'MALFORMED_PAYLOAD', sealed: withMeta({ 'envelope-version': b64('1') }) },
    { name: 'version relabelled 2 to 1, branch key moved into envelope-dek', code: 'TAMPERED_CIPHERTEXT', sealed: { metadata: { ...v2Rest, 'envelope-version': b64('1'), 'envelope-dek': branchKey! }, data: first.data } },
    { name: 'version relabelled 1 to 2 (a version-1 payload)', code: 'UNSUPPORTED_FORMAT', sealed: { metadata: { ...v1First.metadata, 'envelope-version': b64('2') }, data: v1First.data } },
    { name: 'version relabelled 1 to 2, wrapped DEK moved into envelope-branch-key with a salt', code: 'TAMPERED_CIPHERTEXT', sealed: { metadata: { ...v1Rest, 'envelope-version': b64('2'), 'envelope-branch-key': v1Dek!, 'envelope-dek-salt': salt! }, data: v1First.data } },
    { name: 'opened in another workflow', code: 'SCOPE_MISMATCH', sealed: first, openIn: { namespace: 'default', workflowId: 'grant-43' } },
    { name: 'opened in another namespace', code: 'SCOPE_MISMATCH', sealed: first, openIn: { namespace: 'other', workflowId: 'grant-42' } },
  ];
  return {
    format: 'temporal-envelope/v2',
    note: 'TEST ONLY: the keys, branch keys, data keys and shred secrets below are published test values and protect nothing.',
    keyring: VECTOR_KEYRING,
    valid,
    shreddable,
    invalid,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await generate(), null, 2)}\n`);
}
