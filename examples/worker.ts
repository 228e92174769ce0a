import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import type { EnvelopeCodec } from '../codecs/index.js';
import { openKeyProviders, type KeyProvider } from '../keys/index.js';
import * as activities from './activities.js';
import { exampleCodec, FAILURE_CONVERTER_PATH } from './codec.js';
import { TASK_QUEUE } from './types.js';
import { warrantActivityInterceptor } from './warrant.js';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export interface ExampleWorkerOptions {
  connection: NativeConnection;
  keys: KeyProvider;
  namespace?: string;
  taskQueue?: string;
  /** A bundle from exampleWorkflowBundle(), to skip bundling per worker. */
  workflowBundle?: { code: string };
  /** Another codec than exampleCodec(keys), e.g. one with acceptNamespaceScoped for input started from the UI, or markRefusedInWorkflow. */
  codec?: EnvelopeCodec;
}

/**
 * The warrant interceptors, and the codec's own module that drops a signal a codec with
 * markRefusedInWorkflow refused (it does nothing for a codec without: no marker ever arrives).
 */
const WORKFLOW_INTERCEPTOR_MODULES = [here('./workflow-interceptors.ts'), here('../codecs/workflow-interceptors.ts')];

/** Bundle the example workflows once (webpack takes seconds); workers given the bundle start at once. */
export async function exampleWorkflowBundle(): Promise<{ code: string }> {
  return bundleWorkflowCode({
    workflowsPath: here('./workflows.ts'),
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: new DefaultLogger('WARN'),
  });
}

/** The worker every example and end-to-end test runs: codec, failure converter and warrant interceptors registered. */
export async function createExampleWorker(options: ExampleWorkerOptions): Promise<Worker> {
  const codec = options.codec ?? exampleCodec(options.keys);
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: here('./workflows.ts') }),
    activities,
    // A bundle already holds the workflow interceptors (exampleWorkflowBundle).
    interceptors: { ...(options.workflowBundle ? {} : { workflowModules: WORKFLOW_INTERCEPTOR_MODULES }), activity: [warrantActivityInterceptor(codec)] },
    dataConverter: { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH },
  });
}

// `npx tsx examples/worker.ts`: against `temporal server start-dev` and the local keyring (made by `npm start` or `keys init`).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' });
  const worker = await createExampleWorker({ connection, keys: await openKeyProviders({ local: { path: process.env.TEMPORAL_ENVELOPE_KEYRING } }), namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
  console.log(`worker polling ${TASK_QUEUE}; Ctrl-C to stop`);
  await worker.run();
}
