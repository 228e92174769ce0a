import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { EnvelopeCodec } from '../codecs/index.js';
import { exampleCodec, FAILURE_CONVERTER_PATH } from '../examples/codec.js';
import { exampleWorkflowBundle } from '../examples/worker.js';
import { collectApprovals } from '../examples/workflows.js';
import { TEMPORAL_BIN, type DevServer } from './cli-support/temporal-dev.js';
import { historyPayloads, rawHistory } from './e2e-support/history.js';
import { startTwoWorkers, type TwoWorkers } from './e2e-support/two-workers.js';
import { buildTestServer, token } from './support/server-harness.js';

/**
 * The cross-tenant injection of issue 14, end to end against a real Temporal dev server: an operator
 * whose policy allows only `tenant-acme-*` tries to signal `tenant-globex-7`, a workflow whose worker
 * uses the codec's default options with requireEncryption. Through the codec server it cannot get a
 * payload for globex, nor a namespace-wide one; a namespace-scoped payload copied out of history and
 * sent with raw gRPC is refused by the worker, and the workflow does nothing with it. The price of
 * the opt-in is shown too: where a worker accepts namespace-scoped payloads (for operators starting
 * and signalling from the UI or CLI), that start works — and so does the copied payload. On a worker
 * with markRefusedInWorkflow the refused signals are dropped and the workflow goes on; refused input
 * still fails the task.
 */

const run = promisify(execFile);
const NS = 'default';
const QUEUE = 'tenants';
const UI_QUEUE = 'tenants-ui-input';
const MARKING_QUEUE = 'tenants-marking';
const { EventType, WorkflowExecutionStatus } = proto.temporal.api.enums.v1;

let dev: DevServer;
let connection: Connection;
let client: Client;
let fixture: TwoWorkers;
let codecUrl: string;
let srv: Awaited<ReturnType<typeof buildTestServer>>;
const acme = token('acme-operator');
const uiOperator = token('ui-operator');

beforeAll(async () => {
  // A worker with the default options on QUEUE, one that accepts namespace-scoped input on UI_QUEUE.
  // And one with markRefusedInWorkflow on MARKING_QUEUE, which drops a refused signal.
  fixture = await startTwoWorkers({ namespace: NS, queue: QUEUE, uiQueue: UI_QUEUE, markingQueue: MARKING_QUEUE });
  ({ dev, connection, client } = fixture);
  srv = await buildTestServer(
    {
      auth: { staticTokens: [acme.entry, uiOperator.entry] },
      policy: {
        rules: [
          { principals: ['acme-operator'], namespaces: [NS], workflowIdPatterns: ['tenant-acme-*'], actions: ['decode', 'encode'] },
          { principals: ['ui-operator'], namespaces: [NS], actions: ['decode', 'encode'] },
        ],
      },
    },
    fixture.keys,
  );
  codecUrl = await srv.app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await srv?.app.close();
  await fixture?.stop();
});

const temporal = (args: string[]) => run(TEMPORAL_BIN, [...args, '--address', dev.address, '--namespace', NS], { maxBuffer: 16 * 1024 * 1024 });
const codecArgs = (t: { value: string }, target?: string) => ['--codec-endpoint', codecUrl, '--codec-auth', `Bearer ${t.value}`, ...(target === undefined ? [] : ['--codec-header', `X-Envelope-Workflow-Id=${target}`])];
const signalWithCli = (workflowId: string, value: string, t: { value: string }, target?: string) =>
  temporal(['workflow', 'signal', '--workflow-id', workflowId, '--name', 'proceed', '--input', JSON.stringify(value), ...codecArgs(t, target)]);
const encode = (t: { value: string }, target?: string) =>
  fetch(`${codecUrl}/encode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': NS, authorization: `Bearer ${t.value}`, ...(target === undefined ? {} : { 'x-envelope-workflow-id': target }) },
    body: JSON.stringify({ payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"grant everything"').toString('base64') }] }),
  });
const eventTypes = async (workflowId: string) => (await rawHistory(connection, NS, workflowId)).events.map((e) => e.eventType);
const status = async (workflowId: string) => (await connection.workflowService.describeWorkflowExecution({ namespace: NS, execution: { workflowId } })).workflowExecutionInfo?.status;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe('an operator limited to tenant-acme-* cannot inject into tenant-globex-7', () => {
  it('the operator signals its own tenant through the codec server (X-Envelope-Workflow-Id) and that works', async () => {
    const mine = await client.workflow.start(collectApprovals, { taskQueue: QUEUE, workflowId: 'tenant-acme-1', args: [1] });
    await signalWithCli('tenant-acme-1', 'acme approves', acme, 'tenant-acme-1');
    expect(await mine.result()).toEqual(['recorded:acme approves']);
  }, 120_000);

  it('refused at the codec server: no payload for globex, no namespace-wide payload; the CLI sends no signal', async () => {
    await client.workflow.start(collectApprovals, { taskQueue: QUEUE, workflowId: 'tenant-globex-7', args: [1] });
    const forGlobex = await encode(acme, 'tenant-globex-7');
    expect(forGlobex.status).toBe(403);
    expect(((await forGlobex.json()) as { error: { message: string } }).error.message).toBe('acme-operator may not encode for workflow "tenant-globex-7" in namespace "default"');
    const namespaceWide = await encode(acme);
    expect(namespaceWide.status).toBe(403);
    expect(((await namespaceWide.json()) as { error: { message: string } }).error.message).toMatch(/may not encode namespace-scoped payloads/);

    for (const target of ['tenant-globex-7', undefined]) {
      const err = (await signalWithCli('tenant-globex-7', 'grant everything', acme, target).catch((e: unknown) => e)) as { code?: number; stderr?: string };
      expect(err.code, `temporal workflow signal with target ${String(target)} succeeded`).not.toBe(0);
    }
    expect(await eventTypes('tenant-globex-7')).not.toContain(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
    expect(srv.audits().filter((a) => a.route === '/encode' && a.principal === 'acme-operator' && a.status === 403).length).toBeGreaterThanOrEqual(4);
  }, 180_000);

  it('a namespace-scoped payload copied from history and signalled with raw gRPC is refused by a default worker; the workflow does nothing', async () => {
    // The UI/CLI-style start the opt-in exists for: no target workflow, so namespace-scoped input,
    // on a worker with acceptNamespaceScoped. It works.
    await temporal(['workflow', 'start', '--workflow-id', 'ui-started-1', '--type', 'collectApprovals', '--task-queue', UI_QUEUE, '--input', '1', ...codecArgs(uiOperator)]);
    await signalWithCli('ui-started-1', 'approved in the UI', uiOperator);
    expect(await client.workflow.getHandle('ui-started-1').result()).toEqual(['recorded:approved in the UI']);

    // What anyone with history access can copy: that signal's payload, sealed for the namespace only.
    const signalled = historyPayloads((await rawHistory(connection, NS, 'ui-started-1')).events).find((p) => p.eventType === 'WORKFLOW_EXECUTION_SIGNALED');
    expect(signalled?.meta).toMatchObject({ encoding: 'binary/encrypted' });
    expect(signalled?.meta['envelope-workflow-id']).toBeUndefined();
    const copied = signalled!.payload;

    await connection.workflowService.signalWorkflowExecution({ namespace: NS, workflowExecution: { workflowId: 'tenant-globex-7' }, signalName: 'proceed', input: { payloads: [copied] }, identity: 'acme-operator' });
    const failure = await until('the workflow task to fail', async () => {
      const events = (await rawHistory(connection, NS, 'tenant-globex-7')).events;
      return events.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes?.failure?.message ?? undefined;
    });
    expect(failure).toMatch(/namespace-scoped payload rejected in workflow "tenant-globex-7"/);
    // Untouched: the signal never reached the workflow code, so no activity ran and nothing completed.
    await new Promise((r) => setTimeout(r, 2000));
    const types = await eventTypes('tenant-globex-7');
    expect(types).not.toContain(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
    expect(types).not.toContain(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED);
    expect(await status('tenant-globex-7')).toBe(WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING);
    await client.workflow.getHandle('tenant-globex-7').terminate('injection test done');
  }, 180_000);

  it('the cost of acceptNamespaceScoped: on such a worker the same copied payload is acted on', async () => {
    const victim = await client.workflow.start(collectApprovals, { taskQueue: UI_QUEUE, workflowId: 'tenant-globex-8', args: [1] });
    const copied = historyPayloads((await rawHistory(connection, NS, 'ui-started-1')).events).find((p) => p.eventType === 'WORKFLOW_EXECUTION_SIGNALED')!.payload;
    await connection.workflowService.signalWorkflowExecution({ namespace: NS, workflowExecution: { workflowId: 'tenant-globex-8' }, signalName: 'proceed', input: { payloads: [copied] }, identity: 'acme-operator' });
    expect(await victim.result()).toEqual(['recorded:approved in the UI']);
    // A payload sealed for another workflow stays refused everywhere, opt-in or not.
    const other = await client.workflow.start(collectApprovals, { taskQueue: UI_QUEUE, workflowId: 'tenant-globex-9', args: [1] });
    const acmeSignal = historyPayloads((await rawHistory(connection, NS, 'tenant-acme-1')).events).find((p) => p.eventType === 'WORKFLOW_EXECUTION_SIGNALED')!;
    expect(acmeSignal.meta['envelope-workflow-id']).toBe('tenant-acme-1');
    await connection.workflowService.signalWorkflowExecution({ namespace: NS, workflowExecution: { workflowId: 'tenant-globex-9' }, signalName: 'proceed', input: { payloads: [acmeSignal.payload] } });
    const failure = await until('the workflow task to fail', async () =>
      (await rawHistory(connection, NS, 'tenant-globex-9')).events.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes?.failure?.message ?? undefined,
    );
    expect(failure).toMatch(/payload sealed for workflow "tenant-acme-1" cannot be decoded in workflow "tenant-globex-9"/);
    await other.terminate('injection test done');
  }, 120_000);
});

describe('a refused signal does not stall the workflow on a worker with markRefusedInWorkflow', () => {
  // A namespace-scoped payload, as the codec server's /encode makes for the UI (or as copied from history).
  const copiedNamespacePayload = async () => {
    const res = await encode(uiOperator);
    expect(res.status).toBe(200);
    const [p] = ((await res.json()) as { payloads: { metadata: Record<string, string>; data: string }[] }).payloads;
    return { metadata: Object.fromEntries(Object.entries(p!.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])), data: Buffer.from(p!.data, 'base64') };
  };
  const plaintext = { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"grant everything"') };

  it('drops a namespace-scoped and a plaintext signal; the workflow keeps running and takes a good signal after them', async () => {
    const victim = await client.workflow.start(collectApprovals, { taskQueue: MARKING_QUEUE, workflowId: 'tenant-globex-10', args: [1] });
    const copied = await copiedNamespacePayload();
    for (const payload of [copied, plaintext]) {
      await connection.workflowService.signalWorkflowExecution({ namespace: NS, workflowExecution: { workflowId: 'tenant-globex-10' }, signalName: 'proceed', input: { payloads: [payload] }, identity: 'acme-operator' });
    }
    // Both signals are in history and a workflow task after them completed: handled, not retried.
    await until('a completed workflow task after both signals', async () => {
      const types = await eventTypes('tenant-globex-10');
      const lastSignal = types.lastIndexOf(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
      const signals = types.filter((t) => t === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED).length;
      return signals === 2 && types.indexOf(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, lastSignal) > lastSignal ? true : undefined;
    });
    let types = await eventTypes('tenant-globex-10');
    expect(types).not.toContain(EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED);
    expect(types).not.toContain(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
    expect(await status('tenant-globex-10')).toBe(WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING);

    await victim.signal('proceed', 'globex approves');
    expect(await victim.result()).toEqual(['recorded:globex approves']);
    types = await eventTypes('tenant-globex-10');
    expect(types).not.toContain(EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED);

    // Dropping is deterministic: replaying the history (the refused signals in it) from scratch
    // with the same codec and interceptors raises no nondeterminism error; without the option the
    // replay fails on the first refused signal, so it did meet them.
    const workflowBundle = await exampleWorkflowBundle();
    const history = await victim.fetchHistory();
    const replay = (markRefusedInWorkflow: boolean) =>
      Worker.runReplayHistory(
        { workflowBundle, dataConverter: { payloadCodecs: [new EnvelopeCodec({ keyProviders: fixture.keys, requireEncryption: true, markRefusedInWorkflow })], failureConverterPath: FAILURE_CONVERTER_PATH } },
        history,
        'tenant-globex-10', // the codec's serialization context needs the real id
      );
    await replay(true);
    await expect(replay(false)).rejects.toThrow(/namespace-scoped payload rejected in workflow .*tenant-globex-10/);
  }, 120_000);

  it('input it refuses still fails the workflow task, with the refusal, and never runs the workflow', async () => {
    const copied = await copiedNamespacePayload();
    await connection.workflowService.startWorkflowExecution({
      namespace: NS,
      workflowId: 'tenant-globex-11',
      workflowType: { name: 'collectApprovals' },
      taskQueue: { name: MARKING_QUEUE },
      input: { payloads: [copied] },
      requestId: 'tenant-globex-11',
      identity: 'acme-operator',
    });
    const failure = await until('the workflow task to fail', async () =>
      (await rawHistory(connection, NS, 'tenant-globex-11')).events.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes?.failure ?? undefined,
    );
    // Thrown in the sandbox, so the failure converter sealed its message; open it as the UI would.
    expect(failure.message).toBe('Encoded failure');
    const [attrs] = await exampleCodec(fixture.keys).decode([failure.encodedAttributes!], { type: 'workflow', namespace: NS, workflowId: 'tenant-globex-11' });
    expect(JSON.parse(Buffer.from(attrs!.data!).toString()).message).toMatch(/^SCOPE_MISMATCH: namespace-scoped payload rejected in workflow "tenant-globex-11"/);
    expect(await eventTypes('tenant-globex-11')).not.toContain(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
    await client.workflow.getHandle('tenant-globex-11').terminate('injection test done');
  }, 120_000);
});
