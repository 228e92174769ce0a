import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsKmsKeyring } from '../keys/index.js';
import { exampleCodec, FAILURE_CONVERTER_PATH } from '../examples/codec.js';
import { createExampleWorker, exampleWorkflowBundle } from '../examples/worker.js';
import { collectApprovals, proceed } from '../examples/workflows.js';
import { startMoto, type Moto } from './cli-support/moto.js';
import { startDevServer, type DevServer } from './cli-support/temporal-dev.js';
import { historyPayloads, rawHistory } from './e2e-support/history.js';
import { FaultProxy } from './support/fault-proxy.js';

/**
 * KMS goes down in the middle of a run (moto behind a proxy that starts resetting connections).
 * Workflows whose keys are cached go on; anything that needs KMS fails retryably (the client call
 * with a typed retryable error, a worker's workflow task with WorkflowTaskFailed, which Temporal
 * retries); when KMS is back everything completes. Nothing is lost.
 */

// moto accepts any credentials; placeholders, never real ones.
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const region = 'us-east-1';

let dev: DevServer;
let moto: Moto;
let proxy: FaultProxy;
let connection: Connection;
let nativeConnection: NativeConnection;
const workers: { worker: Worker; done: Promise<void> }[] = [];
const rings: AwsKmsKeyring[] = [];

let ring: () => AwsKmsKeyring;
let kek: string;
let bundle: Promise<{ code: string }> | undefined;
const workflowBundle = () => (bundle ??= exampleWorkflowBundle());

beforeAll(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  [dev, moto] = await Promise.all([startDevServer(), startMoto()]);
  proxy = await FaultProxy.start(moto.endpoint);
  const admin = new KMSClient({ region, endpoint: moto.endpoint, credentials });
  kek = (await admin.send(new CreateKeyCommand({ Description: 'temporal-envelope e2e' }))).KeyMetadata!.Arn!;
  admin.destroy();
  // Each process (worker, client) has its own keyring client and DEK cache, as in production.
  ring = () => {
    const r = new AwsKmsKeyring({ keys: [{ keyId: kek }], region, endpoint: proxy.endpoint, credentials, requestTimeoutMs: 1000 });
    rings.push(r);
    return r;
  };
  connection = await Connection.connect({ address: dev.address });
  nativeConnection = await NativeConnection.connect({ address: dev.address });
});

afterAll(async () => {
  for (const w of workers) if (w.worker.getState() === 'RUNNING') w.worker.shutdown();
  await Promise.all(workers.map((w) => w.done));
  for (const r of rings) r.close();
  await nativeConnection?.close();
  await connection?.close();
  await proxy?.stop();
  await Promise.all([moto?.stop(), dev?.stop()]);
});

async function startWorker(taskQueue: string, bundle: { code: string }): Promise<void> {
  const worker = await createExampleWorker({ connection: nativeConnection, keys: ring(), taskQueue, workflowBundle: bundle });
  workers.push({ worker, done: worker.run() });
}

describe('KMS outage in the middle of a run', () => {
  it('cached keys keep running workflows going, new work fails retryably, all completes after recovery', async () => {
    const bundle = await workflowBundle();
    await startWorker('kms-running', bundle);
    const client = new Client({ connection, dataConverter: { payloadCodecs: [exampleCodec(ring())], failureConverterPath: FAILURE_CONVERTER_PATH } });

    // A: running before the outage, with one approval recorded (the worker has sealed for A: its key is cached).
    const a = await client.workflow.start(collectApprovals, { taskQueue: 'kms-running', workflowId: 'kms-a', args: [2] });
    await a.signal(proceed, 'a-1');
    await expect.poll(async () => (await rawHistory(connection, 'default', 'kms-a')).events.some((e) => e.activityTaskCompletedEventAttributes), { timeout: 20_000 }).toBe(true);
    // C: started before the outage on a queue no worker polls yet; its worker will need KMS to open the input.
    const c = await client.workflow.start(collectApprovals, { taskQueue: 'kms-late', workflowId: 'kms-c', args: [1] });

    proxy.set({ kind: 'reset' });
    const requestsAtOutage = proxy.requests;

    // A goes on: the client seals the signal, the worker opens it and seals the activity and the result, all from cache.
    await a.signal(proceed, 'a-2');
    await expect.poll(async () => (await a.describe()).status.name, { timeout: 20_000 }).toBe('COMPLETED');
    // Reading A's result needs the worker's data key, which this client has never unwrapped: KMS, so retryable.
    await expect(a.result()).rejects.toMatchObject({ code: 'KMS_UNAVAILABLE', retryable: true });

    // B: a new workflow needs a new data key: the client call fails with a typed, retryable error. Nothing was started.
    const err = await client.workflow.start(collectApprovals, { taskQueue: 'kms-running', workflowId: 'kms-b', args: [1] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KMS_UNAVAILABLE', retryable: true });
    await expect(client.workflow.getHandle('kms-b').describe()).rejects.toThrow(/not found/i);

    // C's worker starts during the outage: it cannot open C's input, so the workflow task fails (and is retried).
    await startWorker('kms-late', bundle);
    await expect
      .poll(async () => (await rawHistory(connection, 'default', 'kms-c')).events.filter((e) => e.workflowTaskFailedEventAttributes).length, { timeout: 30_000 })
      .toBeGreaterThan(0);
    expect(proxy.requests).toBeGreaterThan(requestsAtOutage); // KMS was really asked, and refused

    // KMS is back: B is retried by its caller, C's next workflow task attempt succeeds.
    proxy.set({ kind: 'pass' });
    const b = await client.workflow.start(collectApprovals, { taskQueue: 'kms-running', workflowId: 'kms-b', args: [1] });
    await b.signal(proceed, 'b-1');
    await c.signal(proceed, 'c-1');
    expect(await b.result()).toEqual(['recorded:b-1']);
    expect(await c.result()).toEqual(['recorded:c-1']);

    // Nothing lost or corrupted: no workflow failed, every payload is sealed, C's history shows the retried task.
    for (const id of ['kms-a', 'kms-b', 'kms-c']) {
      const h = await rawHistory(connection, 'default', id);
      expect(h.events.some((e) => e.workflowExecutionFailedEventAttributes), `${id} failed`).toBe(false);
      expect(historyPayloads(h.events).every((p) => p.meta.encoding === 'binary/encrypted')).toBe(true);
    }
    const cEvents = (await rawHistory(connection, 'default', 'kms-c')).events;
    const failure = cEvents.find((e) => e.workflowTaskFailedEventAttributes)!.workflowTaskFailedEventAttributes!.failure;
    expect(failure?.message ?? '').not.toMatch(/secret|BEGIN|key material/i);
    expect(await a.result()).toEqual(['recorded:a-1', 'recorded:a-2']);
    expect(err).not.toBeInstanceOf(WorkflowFailedError);
  });

  // The hazard the Go SDK has (it drops a signal that does not decode; codecs/go codec.SignalInterceptor
  // closes it): the TypeScript SDK decodes a whole activation before running it
  // (@temporalio/worker worker.ts, handleActivation -> workflowCodecRunner.decodeActivation) and turns
  // any codec error into a failed workflow task, so such a signal is retried, not lost.
  it('a signal sealed by another process while KMS is down fails the workflow task and reaches the workflow after recovery', async () => {
    await startWorker('kms-signal', await workflowBundle());
    const starter = new Client({ connection, dataConverter: { payloadCodecs: [exampleCodec(ring())], failureConverterPath: FAILURE_CONVERTER_PATH } });
    // The other process reaches KMS without the proxy: its signal is sealed with a data key of its own.
    const direct = new AwsKmsKeyring({ keys: [{ keyId: kek }], region, endpoint: moto.endpoint, credentials });
    rings.push(direct);
    const signaller = new Client({ connection, dataConverter: { payloadCodecs: [exampleCodec(direct)], failureConverterPath: FAILURE_CONVERTER_PATH } });
    const id = 'kms-signal-1';
    const handle = await starter.workflow.start(collectApprovals, { taskQueue: 'kms-signal', workflowId: id, args: [1] });
    await expect.poll(async () => (await rawHistory(connection, 'default', id)).events.some((e) => e.workflowTaskCompletedEventAttributes), { timeout: 20_000 }).toBe(true);

    proxy.set({ kind: 'reset' });
    const requestsAtOutage = proxy.requests;
    await signaller.workflow.getHandle(id).signal(proceed, 'sent-during-outage');
    const afterSignal = async () => {
      const events = (await rawHistory(connection, 'default', id)).events;
      return events.slice(events.findIndex((e) => e.workflowExecutionSignaledEventAttributes));
    };
    await expect.poll(async () => (await afterSignal()).some((e) => e.workflowTaskFailedEventAttributes), { timeout: 30_000 }).toBe(true);
    const failed = (await afterSignal()).find((e) => e.workflowTaskFailedEventAttributes)!.workflowTaskFailedEventAttributes!.failure;
    expect(failed?.message).toMatch(/^KMS Decrypt with .* failed and may succeed later/); // KmsUnavailableError, readable
    expect(proxy.requests).toBeGreaterThan(requestsAtOutage);

    proxy.set({ kind: 'pass' });
    expect(await handle.result()).toEqual(['recorded:sent-during-outage']);
  });
});
