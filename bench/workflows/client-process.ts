/**
 * The benchmark's client, in its own process: one variant's data converter. On each 'batch' from
 * the orchestrator it starts workflows, signals each and waits for its result, `concurrency` at a
 * time, and reports timings with its counters (read before and after, so the orchestrator can
 * difference them).
 */
import { Client, Connection } from '@temporalio/client';
import { cpuMs, readConfig, send, type Batch, type ClientRun, type Snapshot, type ToChild } from './protocol.js';
import { benchApproval, benchInput } from './types.js';
import { variantById } from './variants.js';
import { approve, benchWorkflow } from './workflows.js';

const config = readConfig();
const codec = await variantById(config.variant).open('client', config.shared);
const connection = await Connection.connect({ address: config.address });
const client = new Client({ connection, namespace: config.namespace, dataConverter: codec.dataConverter });
const snapshot = (): Snapshot => ({ calls: { ...codec.calls }, cpuMs: cpuMs(), warnings: 0 });
const timeoutMs = config.workflowTimeoutMs ?? 120_000;

async function one(workflowId: string, run: ClientRun): Promise<void> {
  const t0 = performance.now();
  const handle = await client.workflow.start(benchWorkflow, { taskQueue: config.taskQueue, workflowId, args: [benchInput(workflowId)] });
  const t1 = performance.now();
  await handle.signal(approve, benchApproval(workflowId));
  const result = await handle.result();
  const t2 = performance.now();
  // The client decoded what the worker sealed: check it is this workflow's, not just something.
  if (result.requestId !== workflowId || !result.receipt.includes(benchApproval(workflowId).note)) throw new Error(`workflow ${workflowId} returned another workflow's result`);
  run.startMs.push(t1 - t0);
  run.totalMs.push(t2 - t0);
  run.completed++;
}

async function batch({ prefix, count, concurrency }: Batch): Promise<ClientRun> {
  const run: ClientRun = { completed: 0, errors: 0, errorSamples: [], wallMs: 0, startMs: [], totalMs: [] };
  let next = 0;
  const t0 = performance.now();
  const lane = async () => {
    while (next < count) {
      const id = `${prefix}-${next++}`;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([one(id, run), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${id} not done after ${timeoutMs} ms`)), timeoutMs)))]);
      } catch (err) {
        run.errors++;
        if (run.errorSamples.length < 5) run.errorSamples.push(`${id}: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  run.wallMs = performance.now() - t0;
  return run;
}

// The orchestrator gone (killed, crashed): go too, rather than run on unwatched.
let finishing = false;
process.on('disconnect', () => finishing || process.exit(2));
process.on('message', (m: ToChild) => {
  if (m.type === 'batch') void batch(m).then((run) => send({ type: 'done', snapshot: snapshot(), run }));
  if (m.type === 'snapshot') send({ type: 'snapshot', snapshot: snapshot() });
  if (m.type === 'stop') {
    finishing = true;
    void connection.close().finally(() => {
      codec.close();
      process.disconnect();
    });
  }
});
send({ type: 'ready' });
