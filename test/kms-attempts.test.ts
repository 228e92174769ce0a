import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsKmsKeyring, ResilientProvider, type KeyProvider } from '../keys/index.js';
import { makeScope } from '../primitives/scope.js';
import { startMoto, type Moto } from './cli-support/moto.js';
import { FaultProxy, type FaultMode } from './support/fault-proxy.js';

/**
 * How many KMS requests one operation can cost, with the settings production uses: AwsKmsKeyring's
 * client makes one attempt per request and ResilientProvider (defaults) owns retries. Counted on the
 * wire by a fault proxy in front of moto's KMS. At most 3 requests, and only failures a retry can
 * cure are retried; before, the SDK's 3 attempts under ResilientProvider's 3 made up to 9, for
 * unknown failures too.
 */

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' }; // moto's placeholders
const region = 'us-east-1';
let moto: Moto;
let proxy: FaultProxy;
let kek: string;

beforeAll(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  moto = await startMoto();
  proxy = await FaultProxy.start(moto.endpoint);
  const admin = new KMSClient({ region, endpoint: moto.endpoint, credentials });
  kek = (await admin.send(new CreateKeyCommand({ Description: 'temporal-envelope attempts' }))).KeyMetadata!.Arn!;
  admin.destroy();
});
afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

// Production settings: nothing but the KMS key, its region and where to reach it.
const production = () => new ResilientProvider(new AwsKmsKeyring({ keys: [{ keyId: kek }], region, endpoint: proxy.endpoint, credentials }));
const scope = makeScope('default', 'attempts');

/** The KMS requests one operation made under a fault, and how it failed. */
async function requestsFor(mode: FaultMode, op: (p: KeyProvider) => Promise<unknown>): Promise<{ requests: number; error: unknown }> {
  const provider = production();
  proxy.set(mode);
  const before = proxy.requests;
  const error = await op(provider).then(
    () => undefined,
    (e: unknown) => e,
  );
  const requests = proxy.requests - before;
  proxy.set({ kind: 'pass' });
  await provider.close?.();
  return { requests, error };
}

const kmsError = (type: string, status = 400): FaultMode => ({ kind: 'http-error', status, body: JSON.stringify({ __type: type, message: 'from the fault proxy' }) });
const generate = (p: KeyProvider) => p.generateDataKey(scope);

describe('KMS requests per operation, production settings', () => {
  it('failures a retry can cure: 3 requests, then a retryable KMS_UNAVAILABLE', async () => {
    for (const mode of [{ kind: 'reset' }, kmsError('ThrottlingException'), kmsError('KMSInternalException', 500), kmsError('ServiceUnavailableException', 503)] as const) {
      const { requests, error } = await requestsFor(mode, generate);
      expect(error, JSON.stringify(mode)).toMatchObject({ code: 'KMS_UNAVAILABLE', retryable: true, transient: true });
      expect(requests, JSON.stringify(mode)).toBe(3);
    }
    const wrapped = (await production().generateDataKey(scope)).wrapped;
    const { requests, error } = await requestsFor({ kind: 'reset' }, (p) => p.decryptDataKey(kek, wrapped, scope));
    expect(error).toMatchObject({ code: 'KMS_UNAVAILABLE' });
    expect(requests).toBe(3);
  });

  it('a request that times out (3 s each) is tried 3 times too', async () => {
    const { requests, error } = await requestsFor({ kind: 'delay', ms: 10_000 }, generate);
    expect(error).toMatchObject({ code: 'KMS_UNAVAILABLE', message: expect.stringMatching(/timed out after 3000 ms/) });
    expect(requests).toBe(3);
  }, 30_000);

  it('a failure KMS does not explain: 1 request, still retryable for Temporal, not retried here', async () => {
    const { requests, error } = await requestsFor(kmsError('SomeFutureException'), generate);
    expect(error).toMatchObject({ code: 'KMS_UNAVAILABLE', retryable: true, transient: false });
    expect(requests).toBe(1);
  });

  it('permanent refusals: 1 request, KMS_ACCESS_DENIED (a missing key says so)', async () => {
    for (const type of ['AccessDeniedException', 'DisabledException', 'NotFoundException']) {
      const { requests, error } = await requestsFor(kmsError(type), generate);
      expect(error, type).toMatchObject({ code: 'KMS_ACCESS_DENIED', retryable: false });
      expect(requests, type).toBe(1);
    }
    expect((await requestsFor(kmsError('NotFoundException'), generate)).error).toMatchObject({ message: expect.stringContaining('not found') });
  });

  it('a healthy KMS: one request per operation', async () => {
    const provider = production();
    const before = proxy.requests;
    await provider.generateDataKey(scope);
    expect(proxy.requests - before).toBe(1);
    await provider.close?.();
  });
});
