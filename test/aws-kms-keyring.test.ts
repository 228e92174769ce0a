import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateKeyCommand, DisableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec, makeScope } from '../codecs/index.js';
import { initKmsKeyConfig } from '../keys/admin/rotation-kms.js';
import { AwsKmsKeyring } from '../keys/aws-kms-keyring.js';
import { startMoto, type Moto } from './cli-support/moto.js';
import { FaultProxy } from './support/fault-proxy.js';
import { jsonPayload, text } from './support/payloads.js';

// moto accepts any credentials; these are placeholders, never real ones.
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const region = 'us-east-1';
let moto: Moto;
let proxy: FaultProxy;
let admin: KMSClient;
const newKey = async () => (await admin.send(new CreateKeyCommand({ Description: 'temporal-envelope test' }))).KeyMetadata!.Arn!;
const ring = (keys: { keyId: string }[], endpoint = moto.endpoint, requestTimeoutMs = 3000) =>
  new AwsKmsKeyring({ keys, region, endpoint, credentials, requestTimeoutMs });

beforeAll(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  moto = await startMoto();
  proxy = await FaultProxy.start(moto.endpoint);
  admin = new KMSClient({ region, endpoint: moto.endpoint, credentials });
});
afterAll(async () => {
  admin?.destroy();
  await proxy?.stop();
  await moto?.stop();
});

describe('AwsKmsKeyring against a KMS endpoint on loopback', () => {
  it('wraps data keys bound to their scope', async () => {
    const kek = await newKey();
    const kms = ring([{ keyId: kek }]);
    const scope = makeScope('default', 'wf-1');
    const dk = await kms.generateDataKey(scope);
    expect(dk.keyId).toBe(kek);
    expect(Buffer.from(await kms.decryptDataKey(kek, dk.wrapped, scope))).toEqual(Buffer.from(dk.plaintext));
    await expect(kms.decryptDataKey(kek, dk.wrapped, makeScope('default', 'wf-2'))).rejects.toMatchObject({ code: 'TAMPERED_CIPHERTEXT' });
    await expect(kms.decryptDataKey('alias/not-configured', dk.wrapped, scope)).rejects.toMatchObject({ code: 'UNKNOWN_KEY' });
    await kms.checkReady();
    kms.close();
  });

  it('seals and opens payloads end to end, and keeps old payloads readable after a rotation', async () => {
    const [k1, k2] = [await newKey(), await newKey()];
    const kms = ring([{ keyId: k1 }]);
    const codec = new EnvelopeCodec({ keyProviders: kms });
    const ctx = { type: 'workflow' as const, namespace: 'default', workflowId: 'grant-1' };
    const [before] = await codec.encode([jsonPayload('secret-before')], ctx);
    kms.setKeys([{ keyId: k2 }, { keyId: k1 }]);
    const [after] = await codec.encode([jsonPayload('secret-after')], ctx);
    expect(new TextDecoder().decode(after!.metadata!['encryption-key-id']!)).toBe(k2);
    const reader = new EnvelopeCodec({ keyProviders: ring([{ keyId: k2 }, { keyId: k1 }]) });
    expect((await reader.decode([before!, after!], ctx)).map(text)).toEqual(['"secret-before"', '"secret-after"']);
    expect((await kms.listKeys()).map((k) => k.state)).toEqual(['primary', 'decrypt-only']);
    kms.close();
  });

  it('reports a disabled key as a permanent refusal', async () => {
    const kek = await newKey();
    const kms = ring([{ keyId: kek }]);
    await kms.generateDataKey(makeScope('default'));
    // moto keeps serving GenerateDataKey/Decrypt under a disabled key (real KMS answers
    // DisabledException); it does report the state, which readiness checks.
    await admin.send(new DisableKeyCommand({ KeyId: kek.split('/').pop()! }));
    await expect(kms.checkReady()).rejects.toMatchObject({ code: 'KMS_ACCESS_DENIED', retryable: false });
    // KMS's own refusals, as real KMS sends them on the wire.
    const viaProxy = ring([{ keyId: kek }], proxy.endpoint);
    for (const type of ['DisabledException', 'AccessDeniedException']) {
      proxy.set({ kind: 'http-error', status: 400, body: JSON.stringify({ __type: type, message: 'refused' }) });
      await expect(viaProxy.generateDataKey(makeScope('default'))).rejects.toMatchObject({ code: 'KMS_ACCESS_DENIED', retryable: false });
    }
    proxy.set({ kind: 'pass' });
    viaProxy.close();
    kms.close();
  });

  it('turns timeouts, resets and throttling into retryable errors and recovers by itself', async () => {
    const kek = await newKey();
    const kms = ring([{ keyId: kek }], proxy.endpoint, 500);
    const scope = makeScope('default', 'wf-faults');
    const dk = await kms.generateDataKey(scope);

    proxy.set({ kind: 'delay', ms: 1500 });
    await expect(kms.generateDataKey(scope)).rejects.toMatchObject({ code: 'KMS_UNAVAILABLE', retryable: true, message: expect.stringMatching(/timed out/) });
    proxy.set({ kind: 'reset' });
    await expect(kms.decryptDataKey(kek, dk.wrapped, scope)).rejects.toMatchObject({ code: 'KMS_UNAVAILABLE', retryable: true });
    proxy.set({ kind: 'http-error', status: 400, body: '{"__type":"ThrottlingException","message":"Rate exceeded"}' });
    await expect(kms.generateDataKey(scope)).rejects.toMatchObject({ code: 'KMS_UNAVAILABLE', message: expect.stringMatching(/ThrottlingException/) });
    proxy.set({ kind: 'http-error', status: 503, body: '{"__type":"KMSInternalException","message":"down"}' });
    await expect(kms.checkReady()).rejects.toMatchObject({ code: 'KMS_UNAVAILABLE' });

    proxy.set({ kind: 'pass' });
    expect(Buffer.from(await kms.decryptDataKey(kek, dk.wrapped, scope))).toEqual(Buffer.from(dk.plaintext));
    await kms.checkReady();
    kms.close();
  });

  it('from a key config file: not ready once the file cannot be loaded, ready again when it can', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'te-kms-ready-'));
    const config = path.join(dir, 'kms-keys.json');
    await initKmsKeyConfig(config, await newKey());
    const kms = await AwsKmsKeyring.fromKeyConfigFile(config, { region, endpoint: moto.endpoint, credentials, watchIntervalMs: 0 });
    try {
      await kms.checkReady();
      const saved = readFileSync(config);
      rmSync(config);
      await expect(kms.checkReady()).rejects.toMatchObject({ code: 'KEYRING_ERROR', message: expect.stringContaining('does not exist') });
      writeFileSync(config, saved);
      await kms.checkReady();
    } finally {
      kms.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad configuration naming the field', () => {
    expect(() => ring([])).toThrow(/"keys"/);
    expect(() => ring([{ keyId: 'not a key' }])).toThrow(/keys\[0\]\.keyId/);
  });
});
