/**
 * The benchmark's worker, in its own process: one variant's data converter, the benchmark
 * workflows and activities, polling one task queue until the orchestrator says stop.
 */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import * as activities from './activities.js';
import { cpuMs, readConfig, send, type Snapshot, type ToChild } from './protocol.js';
import { variantById } from './variants.js';

const config = readConfig();
let warnings = 0;
// A failed workflow or activity task shows up here, not at the client: the run counts them as errors.
Runtime.install({
  logger: new DefaultLogger('WARN', (entry) => {
    warnings++;
    process.stderr.write(`[worker ${config.variant}] ${entry.level} ${entry.message}\n`);
  }),
});

const codec = await variantById(config.variant).open('worker', config.shared);
const connection = await NativeConnection.connect({ address: config.address });
const worker = await Worker.create({
  connection,
  namespace: config.namespace,
  taskQueue: config.taskQueue,
  workflowBundle: { codePath: config.bundlePath! },
  activities,
  dataConverter: codec.dataConverter,
});
const running = worker.run();
const snapshot = (): Snapshot => ({ calls: { ...codec.calls }, cpuMs: cpuMs(), warnings });

process.on('message', (m: ToChild) => {
  if (m.type === 'snapshot') send({ type: 'snapshot', snapshot: snapshot() });
  if (m.type === 'stop') {
    if (worker.getState() === 'RUNNING') worker.shutdown();
  }
});
// The orchestrator gone (killed, crashed): go too, rather than run on unwatched.
let finishing = false;
process.on('disconnect', () => finishing || process.exit(2));
send({ type: 'ready' });
await running;
send({ type: 'snapshot', snapshot: snapshot() });
await connection.close();
codec.close();
finishing = true;
process.disconnect();
