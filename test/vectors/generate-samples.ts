/**
 * Regenerates test/vectors/samples-v1.json: payloads in the format of Temporal's samples encryption
 * codec (primitives/samples-format.ts), which every codec of ours opens under a legacy key. Run only
 * when adding vectors; never edit or drop a committed one.
 *
 *   npx tsx test/vectors/generate-samples.ts > test/vectors/samples-v1.json
 *
 * Sealed with node's WebCrypto exactly as test/support/samples-codec.ts (and the samples) do, with
 * nonces from a seeded stream instead of the random source.
 */
import { webcrypto } from 'node:crypto';
import type { Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import { LEGACY_KEYS_FORMAT, type LegacyKeysDocument } from '../../keys/legacy-key-file.js';
import { deterministicRandom } from '../support/deterministic-random.js';
import { SAMPLES_KEY_TEXT } from '../support/samples-codec.js';
import { jsonPayload, toProtoJson } from '../support/payloads.js';

const ProtoPayload = proto.temporal.api.common.v1.Payload;
const utf8 = new TextEncoder();
const random = deterministicRandom('temporal-envelope samples vectors (TEST ONLY, NOT SECRET)');

const material = { samples: utf8.encode(SAMPLES_KEY_TEXT), second: random(32), retired: random(32), wrong: random(32) };
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const added = '2026-11-29T00:00:00.000Z';
const legacyKeys: LegacyKeysDocument = {
  format: LEGACY_KEYS_FORMAT,
  keys: [
    { id: 'test-key-id', kind: 'samples-aes-256-gcm', state: 'decrypt-only', added, material: b64(material.samples) },
    { id: '\uFEFFsecond key ✓', kind: 'samples-aes-256-gcm', state: 'decrypt-only', added, material: b64(material.second) },
    { id: 'retired-key', kind: 'samples-aes-256-gcm', state: 'retired', added, retired: added, material: b64(material.retired) },
  ],
};

async function seal(keyId: string, key: Uint8Array, plaintext: Uint8Array): Promise<Payload> {
  const k = await webcrypto.subtle.importKey('raw', key, { name: 'AES-GCM' }, false, ['encrypt']);
  const iv = random(12);
  const sealed = new Uint8Array(await webcrypto.subtle.encrypt({ name: 'AES-GCM', iv, tagLength: 128 }, k, plaintext));
  return { metadata: { encoding: utf8.encode('binary/encrypted'), 'encryption-key-id': utf8.encode(keyId) }, data: Buffer.concat([iv, sealed]) };
}

const withData = (p: Payload, data: Uint8Array | undefined): Payload => (data === undefined ? { metadata: p.metadata } : { metadata: p.metadata, data });

const validInputs: { name: string; keyId: string; key: Uint8Array; input: Payload }[] = [
  { name: "json payload under the samples' hard-coded key", keyId: 'test-key-id', key: material.samples, input: jsonPayload({ token: 'dlg_test_only', email: 'ada@example.com' }) },
  { name: 'empty data, key id with a leading U+FEFF and non-ASCII', keyId: '\uFEFFsecond key ✓', key: material.second, input: { metadata: { encoding: utf8.encode('binary/null') } } },
];
const valid = [];
for (const v of validInputs) valid.push({ name: v.name, input: toProtoJson(v.input), sealed: toProtoJson(await seal(v.keyId, v.key, ProtoPayload.encode(v.input).finish())) });

const first = await seal('test-key-id', material.samples, ProtoPayload.encode(validInputs[0]!.input).finish());
const flip = (at: number) => {
  const d = Uint8Array.from(first.data!);
  d[at < 0 ? d.length + at : at]! ^= 1;
  return d;
};
const invalid = [
  { name: 'flipped tag bit', code: 'TAMPERED_CIPHERTEXT', sealed: withData(first, flip(-1)) },
  { name: 'flipped ciphertext bit', code: 'TAMPERED_CIPHERTEXT', sealed: withData(first, flip(20)) },
  { name: 'flipped nonce bit', code: 'TAMPERED_CIPHERTEXT', sealed: withData(first, flip(0)) },
  { name: 'shorter than nonce and tag', code: 'TAMPERED_CIPHERTEXT', sealed: withData(first, first.data!.subarray(0, 27)) },
  { name: 'sealed under another key, labelled test-key-id', code: 'TAMPERED_CIPHERTEXT', sealed: await seal('test-key-id', material.wrong, ProtoPayload.encode(jsonPayload('x')).finish()) },
  { name: 'under a retired legacy key', code: 'KEY_RETIRED', sealed: await seal('retired-key', material.retired, ProtoPayload.encode(jsonPayload('x')).finish()) },
  { name: 'no data', code: 'MALFORMED_PAYLOAD', sealed: withData(first, undefined) },
  { name: 'opens, but not to a Payload', code: 'MALFORMED_PAYLOAD', sealed: await seal('test-key-id', material.samples, Uint8Array.of(0xff, 0xff, 0xff)) },
].map((v) => ({ ...v, sealed: toProtoJson(v.sealed) }));

process.stdout.write(
  `${JSON.stringify(
    {
      format: 'temporal-samples-codec/legacy-v1',
      note: "TEST ONLY: keys below are the samples' published key and test keys; they protect nothing.",
      legacyKeys,
      valid,
      invalid,
    },
    null,
    2,
  )}\n`,
);
