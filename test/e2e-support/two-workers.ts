import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { EnvelopeCodec } from '../../codecs/index.js';
import { LocalKeyring } from '../../keys/index.js';
import { exampleCodec, FAILURE_CONVERTER_PATH } from '../../examples/codec.js';
import { createExampleWorker, exampleWorkflowBundle } from '../../examples/worker.js';
import { startDevServer, type DevServer } from '../cli-support/temporal-dev.js';

/**
 * A dev server and, on one keyring, the two kinds of worker the scope rules tell apart: one with the
 * example codec (requireEncryption and the default scope rules) on `queue`, and one that opted in to
 * namespace-scoped input (acceptNamespaceScoped, for operators starting workflows from the UI or
 * CLI) on `uiQueue`; plus a client with the example codec.
 */
export interface TwoWorkers {
  readonly dev: DevServer;
  readonly keys: LocalKeyring;
  readonly connection: Connection;
  readonly client: Client;
  stop(): Promise<void>;
}

/**
 * `markingQueue`, if given, gets a third worker: the example codec's options plus
 * markRefusedInWorkflow, so a refused signal is dropped instead of failing the workflow task.
 */
export async function startTwoWorkers(options: { namespace: string; queue: string; uiQueue: string; markingQueue?: string }): Promise<TwoWorkers> {
  const dir = mkdtempSync(path.join(tmpdir(), 'te-two-workers-'));
  const dev = await startDevServer();
  const keys = await LocalKeyring.open({ path: path.join(dir, 'keyring.json'), create: true, watchIntervalMs: 0, warn: () => {} });
  const connection = await Connection.connect({ address: dev.address });
  const native = await NativeConnection.connect({ address: dev.address });
  const workflowBundle = await exampleWorkflowBundle();
  const workers: { worker: Worker; running: Promise<void> }[] = [];
  const queues: [string, EnvelopeCodec][] = [
    [options.queue, exampleCodec(keys)],
    [options.uiQueue, new EnvelopeCodec({ keyProviders: keys, requireEncryption: true, acceptNamespaceScoped: true })],
  ];
  if (options.markingQueue) queues.push([options.markingQueue, new EnvelopeCodec({ keyProviders: keys, requireEncryption: true, markRefusedInWorkflow: true })]);
  for (const [taskQueue, codec] of queues) {
    const worker = await createExampleWorker({ connection: native, keys, namespace: options.namespace, taskQueue, workflowBundle, codec });
    workers.push({ worker, running: worker.run() });
  }
  const client = new Client({ connection, namespace: options.namespace, dataConverter: { payloadCodecs: [exampleCodec(keys)], failureConverterPath: FAILURE_CONVERTER_PATH } });
  const stop = async () => {
    for (const w of workers) if (w.worker.getState() === 'RUNNING') w.worker.shutdown();
    await Promise.all(workers.map((w) => w.running));
    await native.close();
    await connection.close();
    keys.close();
    await dev.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return { dev, keys, connection, client, stop };
}
