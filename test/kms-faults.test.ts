import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import type { Payload, SerializationContext } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec } from '../codecs/index.js';
import { KmsAccessDeniedError, KmsUnavailableError } from '../primitives/errors.js';
import { AwsKmsKeyring, LocalKeyring, newKeyringDocument, ResilientProvider } from '../keys/index.js';
import { startMoto, type Moto } from './cli-support/moto.js';
import { CountingProvider } from './support/counting-provider.js';
import { FaultProxy } from './support/fault-proxy.js';
import { recordCounts } from './support/hardening-counts.js';
import { jsonPayload, text } from './support/payloads.js';

/**
 * KMS faults: latency, timeouts, throttling, resets, a total outage and recovery, against moto's
 * KMS on loopback behind a fault proxy. Cached keys keep serving; callers get retryable errors; the
 * circuit breaker keeps an outage from becoming a request storm; recovery costs one call per data key.
 */

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' }; // moto's placeholders
const region = 'us-east-1';
let moto: Moto;
let proxy: FaultProxy;
let kek: string;
const counts = { faultsInjected: 0, decodesDuringOutage: 0, kmsRequestsDuringOutage: 0, kmsRequestsAtRecovery: 0, payloadsLost: 0 };

beforeAll(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  moto = await startMoto();
  proxy = await FaultProxy.start(moto.endpoint);
  const admin = new KMSClient({ region, endpoint: moto.endpoint, credentials });
  kek = (await admin.send(new CreateKeyCommand({ Description: 'temporal-envelope faults' }))).KeyMetadata!.Arn!;
  admin.destroy();
});
afterAll(async () => {
  recordCounts('kms-faults', counts);
  await proxy?.stop();
  await moto?.stop();
});

const ctx = (i: number): SerializationContext => ({ type: 'workflow', namespace: 'default', workflowId: `fault-wf-${i}` });
const kms = () => new AwsKmsKeyring({ keys: [{ keyId: kek }], region, endpoint: proxy.endpoint, credentials, requestTimeoutMs: 400 });

describe('ResilientProvider (in-process)', () => {
  it('retries retryable failures with backoff, opens after a run of failures, fails fast, and closes on a good probe', async () => {
    const inner = new CountingProvider(LocalKeyring.fromDocument(newKeyringDocument()));
    let now = 0;
    const sleeps: number[] = [];
    const r = new ResilientProvider(inner, { maxAttempts: 3, failureThreshold: 2, openMs: 1000, clock: () => now, random: () => 0.5, sleep: async (ms) => void sleeps.push(ms) });
    inner.failWith = new KmsUnavailableError('down');
    await expect(r.generateDataKey({ namespace: 'n', workflowId: 'a' })).rejects.toMatchObject({ code: 'KMS_UNAVAILABLE' });
    expect(inner.generated).toBe(3);
    expect(sleeps).toEqual([50, 100]); // full jitter: random(0, base·2^n), here the middle
    await expect(r.generateDataKey({ namespace: 'n', workflowId: 'a' })).rejects.toMatchObject({ code: 'KMS_UNAVAILABLE' });
    expect(r.state).toBe('open');
    const before = inner.generated;
    for (let i = 0; i < 20; i++) await expect(r.generateDataKey({ namespace: 'n', workflowId: `b${i}` })).rejects.toMatchObject({ code: 'KMS_UNAVAILABLE', retryable: true });
    expect(inner.generated).toBe(before); // no call reached KMS while open
    now += 1000;
    expect(r.state).toBe('half-open');
    inner.failWith = undefined;
    await r.generateDataKey({ namespace: 'n', workflowId: 'c' });
    expect(r.state).toBe('closed');
    // Permanent refusals pass straight through and do not count towards opening.
    inner.failWith = new KmsAccessDeniedError('denied');
    for (let i = 0; i < 5; i++) await expect(r.generateDataKey({ namespace: 'n', workflowId: 'd' })).rejects.toMatchObject({ code: 'KMS_ACCESS_DENIED' });
    expect(r.state).toBe('closed');
  });
});

describe('KMS faults on the wire', () => {
  it('latency within the timeout is absorbed; timeouts, throttling and resets are retryable', async () => {
    const codec = new EnvelopeCodec({ keyProviders: kms() });
    proxy.set({ kind: 'delay', ms: 100 });
    await expect(codec.encode([jsonPayload('slow')], ctx(900))).resolves.toHaveLength(1);
    const faults = [
      { kind: 'delay', ms: 1500 },
      { kind: 'http-error', status: 400, body: JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }) },
      { kind: 'http-error', status: 503, body: JSON.stringify({ __type: 'KMSInternalException', message: 'internal' }) },
      { kind: 'reset' },
    ] as const;
    for (const [i, fault] of faults.entries()) {
      proxy.set(fault);
      counts.faultsInjected++;
      await expect(codec.encode([jsonPayload('x')], ctx(910 + i))).rejects.toMatchObject({ code: 'KMS_UNAVAILABLE', retryable: true });
    }
    proxy.set({ kind: 'pass' });
    await expect(codec.encode([jsonPayload('back')], ctx(950))).resolves.toHaveLength(1);
  });

  it('an outage: cached keys keep serving, no storm while down, one call per data key after recovery, nothing lost', async () => {
    const writer = new EnvelopeCodec({ keyProviders: kms() });
    const originals = new Map<number, Payload[]>();
    const sealed = new Map<number, Payload[]>();
    for (let i = 0; i < 10; i++) {
      originals.set(i, [jsonPayload({ i, secret: `s-${i}` })]);
      sealed.set(i, await writer.encode(originals.get(i)!, ctx(i)));
    }
    const resilient = new ResilientProvider(kms(), { failureThreshold: 3, openMs: 300, maxOpenMs: 600, baseDelayMs: 10, maxDelayMs: 50 });
    const reader = new EnvelopeCodec({ keyProviders: resilient });
    for (let i = 0; i < 5; i++) await reader.decode(sealed.get(i)!, ctx(i)); // 5 keys cached

    proxy.set({ kind: 'reset' });
    counts.faultsInjected++;
    const atOutage = proxy.requests;
    // 50 concurrent decodes: 25 of cached keys, 25 spread over 5 uncached keys.
    const during = await Promise.allSettled(Array.from({ length: 50 }, (_, n) => reader.decode(sealed.get(n % 10)!, ctx(n % 10))));
    counts.decodesDuringOutage += during.length;
    during.forEach((r, n) => {
      if (n % 10 < 5) expect(r.status).toBe('fulfilled');
      else expect(r).toMatchObject({ status: 'rejected', reason: { code: 'KMS_UNAVAILABLE', retryable: true } });
    });
    // Another burst while the breaker is open reaches KMS not at all.
    await Promise.allSettled(Array.from({ length: 50 }, (_, n) => reader.decode(sealed.get(5 + (n % 5))!, ctx(5 + (n % 5)))));
    counts.decodesDuringOutage += 50;
    counts.kmsRequestsDuringOutage = proxy.requests - atOutage;
    // Coalescing: at most one in-flight call per data key; retries: 3 attempts each; then the breaker.
    expect(counts.kmsRequestsDuringOutage).toBeLessThanOrEqual(5 * 3);
    expect(resilient.state).not.toBe('closed');

    proxy.set({ kind: 'pass' });
    await new Promise((r) => setTimeout(r, 700)); // past the open period: the next call is the probe
    const atRecovery = proxy.requests;
    await expect(reader.decode(sealed.get(5)!, ctx(5))).resolves.toHaveLength(1); // the probe closes the circuit
    const after = await Promise.all(Array.from({ length: 50 }, (_, n) => reader.decode(sealed.get(n % 10)!, ctx(n % 10))));
    counts.kmsRequestsAtRecovery = proxy.requests - atRecovery;
    expect(counts.kmsRequestsAtRecovery).toBeLessThanOrEqual(5); // one per data key not yet cached, however many payloads wait
    for (const [n, out] of after.entries()) {
      if (text(out[0]!) !== text(originals.get(n % 10)![0]!)) counts.payloadsLost++;
    }
    expect(counts.payloadsLost).toBe(0);
  });
});
