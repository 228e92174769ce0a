import type { Payload, SerializationContext } from '@temporalio/common';
import { EnvelopeCodec, type KeyHierarchy } from '../../codecs/index.js';
import { openKeyProviders } from '../../keys/assemble.js';
import type { KeyProvider } from '../../keys/key-provider.js';
import { KmsDelayProxy, type KmsCallerView } from '../../bench/lib/kms-delay-proxy.js';
import { jsonPayload } from './payloads.js';

/**
 * Workflows without a Temporal server, for counting KMS requests per process: a client process and
 * a worker process, each with its own codec, key providers (AWS KMS with production settings,
 * through openKeyProviders) and KMS connection, passing payloads the way a workflow's history does.
 * Each process reaches KMS through its own KmsDelayProxy (bench/lib/kms-delay-proxy.ts, as the
 * workflow bench's), which counts its requests on the wire and holds each back by `proxy.delayMs`.
 */

export interface KmsTarget {
  /** The KMS endpoint (moto on loopback). */
  readonly endpoint: string;
  readonly keyArn: string;
  readonly region: string;
}

export interface SimulatedProcess {
  readonly codec: EnvelopeCodec;
  readonly proxy: KmsCallerView;
  close(): Promise<void>;
}

// moto accepts any credentials: placeholders, never real ones.
const MOTO_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export async function openSimulatedProcess(
  kms: KmsTarget,
  options: { keyHierarchy: KeyHierarchy; branchKeyMaxAgeMs?: number; clock?: () => number },
): Promise<SimulatedProcess> {
  const server = await KmsDelayProxy.start(kms.endpoint, { process: 0 });
  const proxy = server.caller('process');
  let keys: KeyProvider;
  try {
    keys = await openKeyProviders({ provider: 'aws-kms', awsKms: { keys: [{ keyId: kms.keyArn }], region: kms.region, endpoint: proxy.endpoint, credentials: MOTO_CREDENTIALS }, watchIntervalMs: 0 });
  } catch (err) {
    await server.stop();
    throw err;
  }
  const codec = new EnvelopeCodec({
    keyProviders: keys,
    requireEncryption: true,
    keyHierarchy: options.keyHierarchy,
    ...(options.branchKeyMaxAgeMs === undefined ? {} : { branchKeyMaxAgeMs: options.branchKeyMaxAgeMs }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  return {
    codec,
    proxy,
    close: async () => {
      codec.close();
      await keys.close?.();
      await server.stop();
    },
  };
}

export interface WorkflowTimings {
  /** The client sealing the new workflow's input: what the codec adds to starting a workflow. */
  readonly startMs: number;
  /** The worker opening that input: what the codec adds before the first workflow task runs. */
  readonly pickupMs: number;
}

/**
 * One workflow's payloads through both processes, as its history carries them: the client seals
 * the input; the worker opens it, seals an activity's input and result and the workflow's result,
 * reading its own back; the client opens the result.
 */
export async function runWorkflow(client: EnvelopeCodec, worker: EnvelopeCodec, namespace: string, workflowId: string): Promise<WorkflowTimings> {
  const ctx: SerializationContext = { type: 'workflow', namespace, workflowId };
  const t0 = performance.now();
  const input = await client.encode([jsonPayload({ workflowId, grant: 'db-read' })], ctx);
  const t1 = performance.now();
  await worker.decode(input, ctx);
  const t2 = performance.now();
  const activityInput = await worker.encode([jsonPayload({ step: 'activity' })], ctx);
  await worker.decode(activityInput, ctx);
  const activityResult = await worker.encode([jsonPayload({ ok: true })], ctx);
  await worker.decode(activityResult, ctx);
  const result: Payload[] = await worker.encode([jsonPayload({ done: workflowId })], ctx);
  await client.decode(result, ctx);
  return { startMs: t1 - t0, pickupMs: t2 - t1 };
}
