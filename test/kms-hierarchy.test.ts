import { CreateKeyCommand, DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import type { Payload } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec } from '../codecs/index.js';
import { AwsKmsKeyring } from '../keys/aws-kms-keyring.js';
import { startMoto, type Moto } from './cli-support/moto.js';
import { jsonPayload, samePayload } from './support/payloads.js';
import { openSimulatedProcess, runWorkflow, type KmsTarget, type SimulatedProcess } from './support/simulated-workflows.js';

/**
 * KMS requests per workflow per process in each key hierarchy, counted on the wire (a proxy per
 * process in front of moto's KMS on loopback), with the production settings of openKeyProviders.
 * Counts, never times: bench/kms-hierarchy.bench.ts measures latency.
 *
 *   per-workflow: 1 GenerateDataKey per workflow per sealing process, 1 Decrypt per foreign data key per reader
 *   branch:       1 GenerateDataKey per namespace per branch-key lifetime per process, 1 Decrypt per
 *                 foreign branch key; nothing per workflow once warm (goal: <= 1 per 1,000 workflows)
 */

const region = 'us-east-1';
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' }; // moto's placeholders
let moto: Moto;
let kms: KmsTarget;

beforeAll(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  moto = await startMoto();
  const admin = new KMSClient({ region, endpoint: moto.endpoint, credentials });
  const keyArn = (await admin.send(new CreateKeyCommand({ Description: 'temporal-envelope key hierarchy' }))).KeyMetadata!.Arn!;
  admin.destroy();
  kms = { endpoint: moto.endpoint, keyArn, region };
});
afterAll(async () => {
  await moto?.stop();
});

async function pair(keyHierarchy: 'per-workflow' | 'branch', extra: { branchKeyMaxAgeMs?: number; clock?: () => number } = {}) {
  const client = await openSimulatedProcess(kms, { keyHierarchy, ...extra });
  const worker = await openSimulatedProcess(kms, { keyHierarchy, ...extra });
  return { client, worker, close: () => Promise.all([client.close(), worker.close()]) };
}
const counts = (p: SimulatedProcess) => p.proxy.snapshot();

describe('KMS requests per process, counted on the wire', () => {
  it('per-workflow: one GenerateDataKey per workflow per sealing process, one Decrypt per foreign data key per reader', async () => {
    const { client, worker, close } = await pair('per-workflow');
    try {
      const n = 200;
      for (let i = 0; i < n; i++) await runWorkflow(client.codec, worker.codec, 'default', `pw-${i}`);
      // The client seals each input and reads each result (the worker's data key); the worker reads
      // each input (the client's) and seals its own payloads under one data key per workflow.
      expect(counts(client)).toEqual({ GenerateDataKey: n, Decrypt: n });
      expect(counts(worker)).toEqual({ GenerateDataKey: n, Decrypt: n });
    } finally {
      await close();
    }
  }, 120_000);

  it('branch: no KMS request per workflow once warm; one per namespace per branch-key lifetime per process', async () => {
    let now = 1_000_000;
    const { client, worker, close } = await pair('branch', { branchKeyMaxAgeMs: 3_600_000, clock: () => now });
    try {
      await runWorkflow(client.codec, worker.codec, 'default', 'warm-up');
      // Cold: each process made its branch key, and unwrapped the other's once.
      expect(counts(client)).toEqual({ GenerateDataKey: 1, Decrypt: 1 });
      expect(counts(worker)).toEqual({ GenerateDataKey: 1, Decrypt: 1 });
      client.proxy.reset();
      worker.proxy.reset();

      const n = 1000;
      for (let i = 0; i < n; i++) await runWorkflow(client.codec, worker.codec, 'default', `br-${i}`);
      expect(client.proxy.total).toBe(0);
      expect(worker.proxy.total).toBe(0);

      // Another namespace: one more branch key in each process, and one unwrap of the other's.
      for (let i = 0; i < 100; i++) await runWorkflow(client.codec, worker.codec, 'payments', `pay-${i}`);
      expect(counts(client)).toEqual({ GenerateDataKey: 1, Decrypt: 1 });
      expect(counts(worker)).toEqual({ GenerateDataKey: 1, Decrypt: 1 });
      client.proxy.reset();
      worker.proxy.reset();

      // An hour later the branch keys are renewed: per namespace, per process, once.
      now += 3_600_001;
      for (let i = 0; i < 100; i++) {
        await runWorkflow(client.codec, worker.codec, 'default', `next-hour-${i}`);
        await runWorkflow(client.codec, worker.codec, 'payments', `next-hour-${i}`);
      }
      expect(counts(client)).toEqual({ GenerateDataKey: 2, Decrypt: 2 });
      expect(counts(worker)).toEqual({ GenerateDataKey: 2, Decrypt: 2 });
    } finally {
      await close();
    }
  }, 120_000);

  it('a codec server replica opens branch-mode payloads with one Decrypt per distinct branch key, and seals /encode with one per namespace', async () => {
    const { client, worker, close } = await pair('branch');
    const server = await openSimulatedProcess(kms, { keyHierarchy: 'per-workflow' });
    try {
      const history: { id: string; p: Payload[] }[] = [];
      for (let i = 0; i < 50; i++) {
        const ctx = { type: 'workflow' as const, namespace: 'default', workflowId: `ui-${i}` };
        history.push({ id: `ui-${i}`, p: [...(await client.codec.encode([jsonPayload(i)], ctx)), ...(await worker.codec.encode([jsonPayload(-i)], ctx))] });
      }
      const results = await Promise.all(history.map((h) => server.codec.decodeDetailed(h.p)));
      expect(results.flat().every((r) => r.status === 'decoded')).toBe(true);
      expect(counts(server)).toEqual({ Decrypt: 2 });
    } finally {
      await Promise.all([close(), server.close()]);
    }
  });
});

describe('branch keys in AWS KMS', () => {
  it("wraps them with EncryptionContext {temporal-namespace, temporal-key-use: branch-key}, which no data key's context matches", async () => {
    const { client, close } = await pair('branch');
    try {
      const [sealed] = await client.codec.encode([jsonPayload('x')], { type: 'workflow', namespace: 'default', workflowId: 'ctx' });
      const blob = sealed!.metadata!['envelope-branch-key']!;
      const admin = new KMSClient({ region, endpoint: moto.endpoint, credentials });
      const decrypt = (ctx: Record<string, string>) => admin.send(new DecryptCommand({ KeyId: kms.keyArn, CiphertextBlob: blob, EncryptionContext: ctx }));
      expect((await decrypt({ 'temporal-namespace': 'default', 'temporal-key-use': 'branch-key' })).Plaintext).toHaveLength(32);
      await expect(decrypt({ 'temporal-namespace': 'default' })).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
      await expect(decrypt({ 'temporal-namespace': 'default', 'temporal-workflow-id': 'ctx' })).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
      await expect(decrypt({ 'temporal-namespace': 'other', 'temporal-key-use': 'branch-key' })).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
      admin.destroy();
    } finally {
      await close();
    }
  });

  it('a KMS-wrapped branch key altered fails TAMPERED_CIPHERTEXT; under a retired KMS key, KEY_RETIRED', async () => {
    const { client, close } = await pair('branch');
    try {
      const ctx = { type: 'workflow' as const, namespace: 'default', workflowId: 'tamper' };
      const [sealed] = await client.codec.encode([jsonPayload('x')], ctx);
      const blob = Uint8Array.from(sealed!.metadata!['envelope-branch-key']!);
      blob[blob.length - 5]! ^= 0x01;
      const ring = (state: 'decrypt-only' | 'retired') =>
        new AwsKmsKeyring({ keys: [{ keyId: 'alias/primary-elsewhere' }, { keyId: kms.keyArn, state }], region, endpoint: moto.endpoint, credentials });
      const reader = new EnvelopeCodec({ keyProviders: ring('decrypt-only') });
      await expect(reader.decode([{ ...sealed!, metadata: { ...sealed!.metadata, 'envelope-branch-key': blob } }], ctx)).rejects.toMatchObject({ code: 'TAMPERED_CIPHERTEXT' });
      expect(samePayload((await reader.decode([sealed!], ctx))[0]!, jsonPayload('x'))).toBe(true);
      await expect(new EnvelopeCodec({ keyProviders: ring('retired') }).decode([sealed!], ctx)).rejects.toMatchObject({ code: 'KEY_RETIRED' });
    } finally {
      await close();
    }
  });
});
