import { pathToFileURL } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { openKeyProviders, type KeyProvider } from '../keys/index.js';
import { exampleCodec, FAILURE_CONVERTER_PATH } from './codec.js';
import { TASK_QUEUE, type GrantRequest, type GrantResult } from './types.js';
import { warrantClientInterceptor } from './warrant.js';
import { accessGrantSaga, amendJustification, approve, status } from './workflows.js';

export interface ExampleClientOptions {
  connection: Connection;
  keys: KeyProvider;
  namespace?: string;
  /** The warrant (delegation token) each workflow start carries in its header. */
  warrantFor?: (workflowId: string) => string | undefined;
}

export function createExampleClient(options: ExampleClientOptions): Client {
  const namespace = options.namespace ?? 'default';
  const codec = exampleCodec(options.keys);
  return new Client({
    connection: options.connection,
    namespace,
    dataConverter: { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH },
    interceptors: { workflow: [warrantClientInterceptor(codec, namespace, options.warrantFor ?? (() => undefined))] },
  });
}

/** The whole saga as an operator would drive it: start, query, update, approve, wait. */
export async function runAccessGrant(client: Client, workflowId: string, req: GrantRequest, approver = { approver: 'dana@corp.example', note: 'ok per ticket SEC-1234' }): Promise<{ result: GrantResult; queried: unknown; updated: string }> {
  const handle = await client.workflow.start(accessGrantSaga, { taskQueue: TASK_QUEUE, workflowId, args: [req] });
  const queried = await handle.query(status);
  const updated = await handle.executeUpdate(amendJustification, { args: [`on-call access for ${req.subject.name}`] });
  await handle.signal(approve, approver);
  return { result: await handle.result(), queried, updated };
}

// `npx tsx examples/client.ts`: run one saga against the worker of examples/worker.ts.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' });
  const client = createExampleClient({ connection, keys: await openKeyProviders({ local: { path: process.env.TEMPORAL_ENVELOPE_KEYRING } }), warrantFor: () => 'warrant:agent-7 may grant db-read for ann' });
  const id = `grant-${Date.now()}`;
  const out = await runAccessGrant(client, id, {
    requestId: id,
    subject: { name: 'Ann Example', email: 'ann@example.com' },
    delegationToken: 'dlg_example_token',
    resource: 'db:orders:read',
  });
  console.log(`workflow ${id}: ${out.result.stage} (${out.result.grantId}); see it decoded with the codec server`);
  await connection.close();
}
