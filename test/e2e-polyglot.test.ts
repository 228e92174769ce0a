import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import type proto from '@temporalio/proto';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalKeyring } from '../keys/index.js';
import { serve, sha256Hex, type RunningServer } from '../src/server/index.js';
import { createExampleClient } from '../examples/client.js';
import { TASK_QUEUE, type GrantRequest, type GrantResult } from '../examples/types.js';
import { createExampleWorker, exampleWorkflowBundle } from '../examples/worker.js';
import { proceed, waitForSignal } from '../examples/workflows.js';
import { parseJson, REPO_ROOT, runCli } from './cli-support/run-cli.js';
import { startDevServer, type DevServer } from './cli-support/temporal-dev.js';
import { historyPayloads, rawHistory, type FoundPayload } from './e2e-support/history.js';
import { programEnv, startProgram, type Program } from './e2e-support/program.js';

/**
 * One wire format, three languages, one real Temporal dev server: the Go example worker
 * (codecs/go/examples/worker, workflow PolyglotGrant on polyglot-go), the Python example worker
 * (codecs/python/examples/worker.py: workflow PolyglotPyGrant and activity issueCredential on
 * polyglot-py) and the TypeScript example worker (examples/, accessGrantSaga on access-grants)
 * share one local keyring file made by `keys init`. A TypeScript client starts a workflow on the Go
 * worker whose activity runs on the Python worker; the Python example client starts one on the
 * TypeScript worker. Every scenario carries canaries in its input, its signal and its sealed
 * `warrant` header; the assertions read history raw, as the server stores it.
 */

const run = promisify(execFile);
const NS = 'default';
const GO_MODULE = path.join(REPO_ROOT, 'codecs', 'go');
const PYTHON = path.join(REPO_ROOT, '.venv', 'bin', 'python');
const PY_EXAMPLES = path.join(REPO_ROOT, 'codecs', 'python', 'examples');
const GO_QUEUE = 'polyglot-go';
const PY_QUEUE = 'polyglot-py';
// A first build compiles the Temporal and AWS SDKs (minutes on a cold cache, see
// cross-language-go.test.ts); later builds reuse Go's build cache.
const SETUP_TIMEOUT_MS = 600_000;

const dir = mkdtempSync(path.join(tmpdir(), 'te-polyglot-'));
const keyringPath = path.join(dir, 'keyring.json');

// The secrets the scenarios carry; none may be in stored history.
const C = {
  goToken: 'dlg_polyglot_go_T8s2Lq',
  goEmail: 'ada.polyglot.go@patient.example',
  goApprover: 'approver-go-canary-Q4mZ',
  goWarrant: 'warrant:agent-7 may issue a credential for ada (go canary)',
  pyToken: 'dlg_polyglot_py_K3v9Xw',
  pyName: 'Bea Polyglot Secret',
  pyEmail: 'bea.polyglot.py@patient.example',
  pyApprover: 'approver-py-canary-R7nB',
  pyNote: 'approved per ticket SEC-python-canary-5521',
  pyWarrant: 'warrant:agent-9 may grant db:orders:read for bea (python canary)',
};
const INJECTED_GO = 'mallory-injected-go-canary';
const INJECTED_PY = 'mallory-injected-py-canary';

const operatorA = { principal: 'operator-a', token: `tok_operator_a_${'a'.repeat(24)}` };
const operatorB = { principal: 'operator-b', token: `tok_operator_b_${'b'.repeat(24)}` };

let dev: DevServer | undefined;
let connection: Connection | undefined;
let nativeConnection: NativeConnection | undefined;
let keys: LocalKeyring | undefined;
let tsWorker: Worker | undefined;
let tsWorkerRun: Promise<void> | undefined;
const programs: Program[] = [];
let codecServer: RunningServer | undefined;
let client: Client;
let plainClient: Client;
let firstKek: string;
const started = Date.now();

beforeAll(async () => {
  // The TypeScript worker's own logs: warnings and errors only (the Go and Python workers' output
  // is kept in memory and shown when something times out).
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const goWorkerBin = path.join(dir, 'polyglot-go-worker');
  const build = run('go', ['build', '-o', goWorkerBin, './examples/worker'], { cwd: GO_MODULE }).catch((err: NodeJS.ErrnoException & { stderr?: string }) => {
    if (err.code === 'ENOENT') throw new Error('the Go toolchain (`go`) is not installed: the Go example worker cannot be built');
    throw new Error(`go build ./examples/worker failed: ${err.stderr ?? err.message}`);
  });
  // allSettled, not all: whatever did start is recorded for afterAll even when something else failed.
  const [server] = await settled([startDevServer().then((d) => (dev = d)), build] as const);

  const init = await runCli(['keys', 'init', '--keyring', keyringPath, '--json']);
  expect(init.code, init.stderr).toBe(0);
  firstKek = parseJson<{ key: { id: string } }>(init.stdout).key.id;

  const common = ['--address', server.address, '--namespace', NS, '--keyring', keyringPath, '--require-encryption'];
  const record = (p: Program) => (programs.push(p), p);
  const [, , bundle] = await settled([
    startProgram('Go worker', goWorkerBin, [...common, '--task-queue', GO_QUEUE, '--activity-task-queue', PY_QUEUE], { ready: /polyglot-go worker ready/ }).then(record),
    startProgram('Python worker', PYTHON, [path.join(PY_EXAMPLES, 'worker.py'), ...common, '--task-queue', PY_QUEUE], { ready: /worker polling polyglot-py/ }).then(record),
    exampleWorkflowBundle(),
  ] as const);

  keys = await LocalKeyring.open({ path: keyringPath, create: false, watchIntervalMs: 200, warn: () => {} });
  nativeConnection = await NativeConnection.connect({ address: server.address });
  tsWorker = await createExampleWorker({ connection: nativeConnection, keys, workflowBundle: bundle });
  tsWorkerRun = tsWorker.run();
  connection = await Connection.connect({ address: server.address });
  client = createExampleClient({ connection, keys, warrantFor: (id) => (id.startsWith('polyglot-py-') ? C.pyWarrant : C.goWarrant) });
  plainClient = new Client({ connection, namespace: NS });

  // The codec server: operator A may decode everything in the namespace, operator B nothing (a rule
  // in the namespace whose workflow-id pattern matches none of these workflows).
  const configPath = path.join(dir, 'codec-server.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      server: { host: '127.0.0.1', port: 0 },
      auth: { staticTokens: [operatorA, operatorB].map((o) => ({ principal: o.principal, sha256: `sha256:${sha256Hex(o.token)}` })) },
      policy: {
        onDeny: 'leave-sealed',
        rules: [
          { principals: [operatorA.principal], namespaces: [NS], actions: ['decode'] },
          { principals: [operatorB.principal], namespaces: [NS], workflowIdPatterns: ['tenant-nobody-*'], actions: ['decode'] },
        ],
      },
      keys: { provider: 'local', local: { path: keyringPath, watchIntervalMs: 200 } },
      log: { level: 'warn', pretty: false },
    }),
  );
  codecServer = await serve({ configPath, env: {}, handleSignals: false });
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  // Each stop runs even when another fails, and even when beforeAll failed half-way.
  const stops: Promise<unknown>[] = [
    (async () => {
      if (tsWorker && tsWorker.getState() === 'RUNNING') tsWorker.shutdown();
      await tsWorkerRun;
    })(),
    ...programs.map((p) => p.stop()),
    codecServer?.close() ?? Promise.resolve(),
  ];
  const results = await Promise.allSettled(stops);
  await Promise.allSettled([nativeConnection?.close(), connection?.close()]);
  keys?.close();
  await dev?.stop();
  rmSync(dir, { recursive: true, force: true });
  // Wall time of the whole file, for the record (docs/temporal-integration.md quotes it).
  console.info(`e2e-polyglot: ${((Date.now() - started) / 1000).toFixed(1)} s from start to teardown`);
  const failed = results.filter((r) => r.status === 'rejected');
  if (failed.length) throw new Error(`stopping test processes failed: ${failed.map((r) => String((r as PromiseRejectedResult).reason)).join('; ')}`);
}, 120_000);

/** Like Promise.all, but waits for every promise before throwing the first failure. */
async function settled<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

type Event = proto.temporal.api.history.v1.IHistoryEvent;

const history = async (id: string) => rawHistory(connection!, NS, id);

/** The end of what the Go and Python workers printed, for failure messages. */
const workersSaid = () => programs.map((p) => `--- ${p.name}\n${p.output().slice(-4000)}`).join('\n');

async function waitForHistory(id: string, what: string, done: (events: Event[]) => boolean, timeoutMs = 90_000): Promise<Event[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { events } = await history(id);
    if (done(events)) return events;
    if (Date.now() > deadline) throw new Error(`${id}: ${what} did not happen within ${timeoutMs} ms; events: ${events.map((e) => e.eventType).join(',')}\n${workersSaid()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `promise`, or a failure naming `what` with the workers' recent output after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms\n${workersSaid()}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Events after the last WorkflowExecutionSignaled. */
const afterLastSignal = (events: Event[]) => events.slice(events.findLastIndex((e) => e.workflowExecutionSignaledEventAttributes) + 1);
const firstTaskCompleted = (events: Event[]) => events.some((e) => e.workflowTaskCompletedEventAttributes);

function expectNoCanary(bytes: Buffer | string, where: string, canaries: readonly string[]): void {
  for (const c of canaries) expect(Buffer.from(bytes).includes(Buffer.from(c)), `canary ${c} in plaintext in ${where}`).toBe(false);
}

/** Every payload binary/encrypted and sealed to `owner(p)` (the workflow it belongs to). */
function expectSealedTo(found: FoundPayload[], owner: (p: FoundPayload) => string): void {
  const notSealed = found.filter((p) => p.meta.encoding !== 'binary/encrypted').map((p) => `${p.eventType} ${p.path} (${p.meta.encoding})`);
  expect(notSealed).toEqual([]);
  for (const p of found) expect(p.meta['envelope-workflow-id'], `${p.eventType} ${p.path}`).toBe(owner(p));
}

const dekOf = (found: FoundPayload[], eventType: string, pathPart = '') => {
  const deks = new Set(found.filter((p) => p.eventType === eventType && p.path.includes(pathPart)).map((p) => p.meta['envelope-dek']));
  expect(deks.size, `one data key for ${eventType} ${pathPart}`).toBe(1);
  return [...deks][0]!;
};

const toProtoJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

async function decodeAs(operator: { token: string }, payloads: Payload[]): Promise<{ status: number; text: string; payloads: JsonPayload[] }> {
  const res = await fetch(`${codecServer!.url}/decode`, {
    method: 'POST',
    headers: { authorization: `Bearer ${operator.token}`, 'content-type': 'application/json', 'x-namespace': NS },
    body: JSON.stringify({ payloads: payloads.map(toProtoJson) }),
  });
  const text = await res.text();
  return { status: res.status, text, payloads: res.ok ? (JSON.parse(text) as { payloads: JsonPayload[] }).payloads : [] };
}

const encodingOf = (p: JsonPayload) => Buffer.from(p.metadata?.encoding ?? '', 'base64').toString();
const dataOf = (p: JsonPayload) => Buffer.from(p.data ?? '', 'base64').toString();

async function runPythonClient(args: readonly string[]): Promise<unknown> {
  const { stdout } = await run(PYTHON, [path.join(PY_EXAMPLES, 'client.py'), '--address', dev!.address, '--namespace', NS, '--keyring', keyringPath, '--require-encryption', ...args], {
    env: programEnv(),
    timeout: 150_000,
  }).catch((err: Error & { stderr?: string }) => {
    throw new Error(`python client.py failed: ${err.message}\n${err.stderr ?? ''}`);
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

interface PolyglotGrantResult {
  grant: Record<string, unknown>;
  approvedBy: string;
  credential: { credential: string; for: string; actingFor: string };
}

// Filled by the scenarios, read by the codec-server checks.
const decodedLater: { payloads: Payload[]; canaries: string[] } = { payloads: [], canaries: [] };

describe('TypeScript client -> Go workflow -> Python activity', () => {
  const id = 'polyglot-go-1';
  let result: PolyglotGrantResult;

  it('completes: Go reads the TypeScript input and signal, Python opens the warrant header TypeScript sealed and Go carried', async () => {
    const input = { email: C.goEmail, delegationToken: C.goToken, resource: 'db:orders:read' };
    const handle = await client.workflow.start('PolyglotGrant', { taskQueue: GO_QUEUE, workflowId: id, args: [input] });
    await handle.signal('approve', C.goApprover);
    result = (await within(handle.result(), 90_000, `the result of ${id}`)) as PolyglotGrantResult;
    expect(result.grant).toEqual(input);
    expect(result.approvedBy).toBe(C.goApprover);
    expect(result.credential.for).toBe(C.goEmail);
    expect(result.credential.actingFor).toBe(C.goWarrant);
    expect(result.credential.credential).toMatch(/^cred_/);
  }, 120_000);

  it('leaves no canary in raw history; every payload, the activity\'s and the warrant header included, is sealed to the workflow', async () => {
    const raw = await history(id);
    const canaries = [C.goToken, C.goEmail, C.goApprover, C.goWarrant, result.credential.credential];
    expectNoCanary(raw.bytes, `history of ${id}`, canaries);
    const found = historyPayloads(raw.events);
    expectSealedTo(found, () => id);
    const where = new Set(found.map((p) => `${p.eventType} ${p.path.includes('header.fields.warrant') ? 'warrant' : 'payload'}`));
    for (const w of ['WORKFLOW_EXECUTION_STARTED payload', 'WORKFLOW_EXECUTION_STARTED warrant', 'WORKFLOW_EXECUTION_SIGNALED payload', 'ACTIVITY_TASK_SCHEDULED payload', 'ACTIVITY_TASK_SCHEDULED warrant', 'ACTIVITY_TASK_COMPLETED payload', 'WORKFLOW_EXECUTION_COMPLETED payload']) {
      expect(where, `no sealed ${w}`).toContain(w);
    }
    // Who sealed what, by data key (one per workflow per process): the TypeScript client the input,
    // the header and the signal; the Go worker the activity input and the result; the Python worker
    // the activity result. Go carried the header to the activity byte for byte, without opening it.
    const tsClient = dekOf(found, 'WORKFLOW_EXECUTION_STARTED', 'input');
    const goWorker = dekOf(found, 'ACTIVITY_TASK_SCHEDULED', 'input');
    const pyWorker = dekOf(found, 'ACTIVITY_TASK_COMPLETED');
    expect(new Set([tsClient, goWorker, pyWorker]).size).toBe(3);
    expect(dekOf(found, 'WORKFLOW_EXECUTION_SIGNALED')).toBe(tsClient);
    expect(dekOf(found, 'WORKFLOW_EXECUTION_STARTED', 'header.fields.warrant')).toBe(tsClient);
    expect(dekOf(found, 'WORKFLOW_EXECUTION_COMPLETED')).toBe(goWorker);
    const headers = found.filter((p) => p.path.includes('header.fields.warrant')).map((p) => Buffer.from(p.payload.data!).toString('base64'));
    expect(new Set(headers).size).toBe(1);
    decodedLater.payloads.push(...found.map((p) => p.payload));
    decodedLater.canaries.push(...canaries);
  });
});

describe('Python client -> TypeScript workflow', () => {
  const id = 'polyglot-py-1';
  let result: GrantResult;

  it('completes: TypeScript reads the Python input and signal, and its activity opens the warrant header Python sealed', async () => {
    const req: GrantRequest = { requestId: id, subject: { name: C.pyName, email: C.pyEmail }, delegationToken: C.pyToken, resource: 'db:orders:read' };
    result = (await runPythonClient([
      '--task-queue', TASK_QUEUE, '--workflow-type', 'accessGrantSaga', '--workflow-id', id,
      '--arg', JSON.stringify(req), '--warrant', C.pyWarrant,
      '--signal', 'approve', '--signal-arg', JSON.stringify({ approver: C.pyApprover, note: C.pyNote }),
    ])) as GrantResult;
    // provisionAccess refuses to run without the opened warrant; the audit record comes from the
    // child workflow, built from the Python-sealed input and signal.
    expect(result.stage).toBe('granted');
    expect(result.auditRecord).toBe(`audit ${id}: ${result.grantId} for ${C.pyEmail} approved by ${C.pyApprover}`);
  }, 180_000);

  it('leaves no canary in raw history; the saga\'s payloads are sealed to it, the child\'s to the child', async () => {
    const child = `${id}-audit`;
    const [parent, childHistory] = await Promise.all([history(id), history(child)]);
    const canaries = [C.pyToken, C.pyName, C.pyEmail, C.pyApprover, C.pyNote, C.pyWarrant];
    expectNoCanary(parent.bytes, `history of ${id}`, canaries);
    expectNoCanary(childHistory.bytes, `history of ${child}`, canaries);
    const childEvents = new Set(['START_CHILD_WORKFLOW_EXECUTION_INITIATED', 'CHILD_WORKFLOW_EXECUTION_COMPLETED']);
    const found = historyPayloads(parent.events);
    expectSealedTo(found, (p) => (childEvents.has(p.eventType) ? child : id));
    expectSealedTo(historyPayloads(childHistory.events), () => child);
    expect(found.some((p) => p.eventType === 'WORKFLOW_EXECUTION_STARTED' && p.path.includes('header.fields.warrant'))).toBe(true);
    expect(found.some((p) => p.eventType === 'ACTIVITY_TASK_SCHEDULED' && p.path.includes('header.fields.warrant'))).toBe(true);
    // The Python client sealed the input, the header and the signal; the TypeScript worker the rest.
    const pyClient = dekOf(found, 'WORKFLOW_EXECUTION_STARTED', 'input');
    expect(dekOf(found, 'WORKFLOW_EXECUTION_SIGNALED')).toBe(pyClient);
    expect(dekOf(found, 'WORKFLOW_EXECUTION_STARTED', 'header.fields.warrant')).toBe(pyClient);
    expect(dekOf(found, 'WORKFLOW_EXECUTION_COMPLETED')).not.toBe(pyClient);
    decodedLater.payloads.push(...found.map((p) => p.payload), ...historyPayloads(childHistory.events).map((p) => p.payload));
    decodedLater.canaries.push(...canaries);
  });
});

describe('the codec server reads what all three languages sealed', () => {
  it('decodes every payload for operator A, to the canaries, the warrant headers and the activity results included', async () => {
    expect(decodedLater.payloads.length).toBeGreaterThan(15);
    const res = await decodeAs(operatorA, decodedLater.payloads);
    expect(res.status, res.text).toBe(200);
    expect(res.payloads).toHaveLength(decodedLater.payloads.length);
    expect(res.payloads.filter((p) => encodingOf(p) === 'binary/encrypted')).toEqual([]);
    const plaintext = res.payloads.map(dataOf).join('\n');
    for (const c of decodedLater.canaries) expect(plaintext, `canary ${c} not decoded`).toContain(c);
    // The TypeScript activity's result names the warrant it ran under: the one the Python client sealed.
    expect(plaintext).toContain(`"actingFor":"${C.pyWarrant}"`);
  });

  it('leaves every payload sealed for operator B, with no canary in the response', async () => {
    const res = await decodeAs(operatorB, decodedLater.payloads);
    expect(res.status, res.text).toBe(200);
    expect(res.payloads).toHaveLength(decodedLater.payloads.length);
    expect(res.payloads.map(encodingOf)).toEqual(decodedLater.payloads.map(() => 'binary/encrypted'));
    expectNoCanary(res.text, 'the response to operator B', decodedLater.canaries);
    expectNoCanary(res.payloads.map(dataOf).join('\n'), 'the payloads returned to operator B', decodedLater.canaries);
  });
});

describe('requireEncryption refuses a plaintext signal from a client without a codec', () => {
  it('Go worker: the SDK drops the refused signal; the workflow never sees it and goes on with the sealed one', async () => {
    const id = 'polyglot-plaintext-go';
    const handle = await client.workflow.start('PolyglotGrant', { taskQueue: GO_QUEUE, workflowId: id, args: [{ email: C.goEmail, resource: 'db:orders:read' }] });
    await waitForHistory(id, 'the first workflow task', firstTaskCompleted);
    await plainClient.workflow.getHandle(id).signal('approve', INJECTED_GO);
    // The Go worker handled the signal event: a task after it completed (PLAINTEXT_REJECTED is not
    // retryable, so codec.SignalInterceptor leaves the signal to the SDK, which drops it).
    const events = await waitForHistory(id, 'a workflow task after the plaintext signal', (ev) => afterLastSignal(ev).some((e) => e.workflowTaskCompletedEventAttributes || e.workflowTaskFailedEventAttributes));
    expect(events.filter((e) => e.workflowTaskFailedEventAttributes)).toEqual([]);
    expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toEqual([]);
    await handle.signal('approve', 'dana@corp.example');
    const result = (await within(handle.result(), 90_000, `the result of ${id}`)) as PolyglotGrantResult;
    expect(result.approvedBy).toBe('dana@corp.example');
    expect(JSON.stringify(result)).not.toContain(INJECTED_GO);
    const plain = historyPayloads((await history(id)).events).filter((p) => p.meta.encoding !== 'binary/encrypted');
    expect(plain.map((p) => `${p.eventType} ${p.meta.encoding}`)).toEqual(['WORKFLOW_EXECUTION_SIGNALED json/plain']); // the attacker's own bytes
  }, 120_000);

  it('Python worker: the SDK fails the workflow task on it, every attempt; the workflow never sees it and cannot go on', async () => {
    const id = 'polyglot-plaintext-py';
    const handle = await client.workflow.start('PolyglotPyGrant', { taskQueue: PY_QUEUE, workflowId: id, args: [{ email: C.goEmail }] });
    await waitForHistory(id, 'the first workflow task', firstTaskCompleted);
    await plainClient.workflow.getHandle(id).signal('approve', { approver: INJECTED_PY });
    // temporalio decodes a whole activation before running it (worker/_workflow.py,
    // _handle_activation -> decode_activation); a codec error fails the activation, so the task.
    const events = await waitForHistory(id, 'a failed workflow task after the plaintext signal', (ev) => afterLastSignal(ev).some((e) => e.workflowTaskFailedEventAttributes));
    const failure = events.find((e) => e.workflowTaskFailedEventAttributes)!.workflowTaskFailedEventAttributes!.failure!;
    expect(failure.message).toMatch(/^PLAINTEXT_REJECTED: /);
    expect(JSON.stringify(failure)).not.toContain(INJECTED_PY);
    expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toEqual([]);

    // The refused signal stays in history and every retry replays it: a sealed signal sent now is
    // never reached either. The task keeps failing (its attempt count grows) and nothing runs.
    await handle.signal('approve', { approver: 'dana@corp.example' });
    const attempt = async () => (await handle.describe()).raw.pendingWorkflowTask?.attempt ?? 0;
    const before = await attempt();
    const deadline = Date.now() + 90_000;
    while ((await attempt()) <= before) {
      if (Date.now() > deadline) throw new Error(`${id}: the workflow task was not retried after the sealed signal`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const description = await handle.describe();
    expect(description.status.name).toBe('RUNNING');
    const after = (await history(id)).events;
    expect(after.filter((e) => e.activityTaskScheduledEventAttributes)).toEqual([]);
    expect(after.filter((e) => e.workflowTaskCompletedEventAttributes)).toHaveLength(1); // the first task only
    await handle.terminate('test over: a workflow wedged by a refused signal must be terminated or reset');
  }, 150_000);
});

describe('`keys rotate` while the Go, Python and TypeScript workers run', () => {
  it('workflows started before complete, and new workflows on every worker kind are sealed under the new KEK', async () => {
    type Kind = 'go' | 'python' | 'typescript';
    const start = (kind: Kind, id: string): Promise<WorkflowHandle> =>
      kind === 'go'
        ? client.workflow.start('PolyglotGrant', { taskQueue: GO_QUEUE, workflowId: id, args: [{ email: C.goEmail, resource: 'db:orders:read' }] })
        : kind === 'python'
          ? client.workflow.start('PolyglotPyGrant', { taskQueue: PY_QUEUE, workflowId: id, args: [{ email: C.goEmail }] })
          : client.workflow.start(waitForSignal, { taskQueue: TASK_QUEUE, workflowId: id, args: [{ secret: `rotation-${id}` }] });
    const finish = async (kind: Kind, handle: WorkflowHandle): Promise<unknown> => {
      if (kind === 'go') await handle.signal('approve', 'dana@corp.example');
      else if (kind === 'python') await handle.signal('approve', { approver: 'dana@corp.example' });
      else await handle.signal(proceed, 'go');
      return within(handle.result(), 60_000, `the result of ${handle.workflowId}`);
    };
    const kinds: Kind[] = ['go', 'python', 'typescript'];

    const before = await Promise.all(kinds.map((k) => start(k, `polyglot-rot-before-${k}`)));
    await Promise.all(kinds.map((k) => waitForHistory(`polyglot-rot-before-${k}`, 'the first workflow task', firstTaskCompleted)));
    for (const k of kinds) {
      const started = historyPayloads((await history(`polyglot-rot-before-${k}`)).events).find((p) => p.eventType === 'WORKFLOW_EXECUTION_STARTED');
      expect(started?.meta['encryption-key-id']).toBe(firstKek);
    }

    const rotated = await runCli(['keys', 'rotate', '--keyring', keyringPath, '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const { primary, previous } = parseJson<{ primary: { id: string }; previous: { id: string } }>(rotated.stdout);
    expect(previous.id).toBe(firstKek);
    const newKek = primary.id;
    await expect.poll(() => keys!.primaryKeyId(), { timeout: 10_000 }).toBe(newKek);

    // Started before the rotation, finished after it: each completes.
    const results = await Promise.all(kinds.map((k, i) => finish(k, before[i]!)));
    expect((results[0] as PolyglotGrantResult).approvedBy).toBe('dana@corp.example');
    expect((results[1] as { stage: string }).stage).toBe('granted');
    expect(results[2]).toBe('rotation-polyglot-rot-before-typescript:go');

    // New workflows: the Go and Python workers re-read the keyring file on their own (every 2 s),
    // so until a worker has, what it seals may still name the old KEK. Start new workflows until
    // one per kind is sealed throughout, by the client and its worker(s), under the new KEK.
    const tries: Record<Kind, number> = { go: 0, python: 0, typescript: 0 };
    const deadline = Date.now() + 90_000;
    await Promise.all(
      kinds.map(async (k) => {
        for (;;) {
          const id = `polyglot-rot-after-${k}-${++tries[k]}`;
          await finish(k, await start(k, id));
          const kekIds = new Set(historyPayloads((await history(id)).events).map((p) => p.meta['encryption-key-id']));
          if (kekIds.size === 1 && kekIds.has(newKek)) return;
          if (Date.now() > deadline) throw new Error(`${k} worker still seals with ${[...kekIds].join(', ')} 90 s after the rotation to ${newKek}`);
          await new Promise((r) => setTimeout(r, 500));
        }
      }),
    );
    console.info(`e2e-polyglot rotation: workflows started per kind until sealed under the new KEK: ${JSON.stringify(tries)}`);

    // The codec server (its keyring watches the file too) opens both KEKs' payloads.
    const mixed = (await Promise.all(kinds.map((k) => history(`polyglot-rot-before-${k}`)))).flatMap((h) => historyPayloads(h.events).map((p) => p.payload));
    expect(new Set(mixed.map((p) => Buffer.from(p.metadata!['encryption-key-id']!).toString()))).toEqual(new Set([firstKek, newKek]));
    const res = await decodeAs(operatorA, mixed);
    expect(res.status, res.text).toBe(200);
    expect(res.payloads.filter((p) => encodingOf(p) === 'binary/encrypted')).toEqual([]);
  }, 240_000);
});
