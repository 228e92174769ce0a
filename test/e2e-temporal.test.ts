import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec } from '../codecs/index.js';
import { LocalKeyring } from '../keys/index.js';
import { createExampleClient, runAccessGrant } from '../examples/client.js';
import { createExampleWorker, exampleWorkflowBundle } from '../examples/worker.js';
import { TASK_QUEUE, type GrantRequest } from '../examples/types.js';
import { proceed, waitForSignal } from '../examples/workflows.js';
import { runCli } from './cli-support/run-cli.js';
import { startDevServer, TEMPORAL_BIN, type DevServer } from './cli-support/temporal-dev.js';
import { historyPayloads, rawHistory } from './e2e-support/history.js';
import { buildTestServer, token } from './support/server-harness.js';

/**
 * The product where users meet it: a real Temporal dev server, the example worker and client with
 * the codec, the history as the server stores it, the real `temporal` CLI through our codec server,
 * and a key rotation while workflows run.
 */

const run = promisify(execFile);
const NS = 'default';
const dir = mkdtempSync(path.join(tmpdir(), 'te-e2e-'));
const keyringPath = path.join(dir, 'keyring.json');

// Every secret the saga carries; none may appear in the stored history.
const SECRETS = {
  token: 'dlg_tok_7Hq2ZpL9sWxK4vRm',
  email: 'ann.secret@patient.example',
  name: 'Ann Confidential',
  warrant: 'warrant:agent-42 may grant db:orders:read for ann',
  approverNote: 'approved per ticket SEC-98765-private',
  justification: 'on-call access for Ann Confidential',
};

let dev: DevServer;
let connection: Connection;
let nativeConnection: NativeConnection;
let keys: LocalKeyring;
let worker: Worker;
let workerRun: Promise<void>;
let client: ReturnType<typeof createExampleClient>;

beforeAll(async () => {
  dev = await startDevServer();
  keys = await LocalKeyring.open({ path: keyringPath, create: true, watchIntervalMs: 200, warn: () => {} });
  nativeConnection = await NativeConnection.connect({ address: dev.address });
  connection = await Connection.connect({ address: dev.address });
  worker = await createExampleWorker({ connection: nativeConnection, keys, workflowBundle: await exampleWorkflowBundle() });
  workerRun = worker.run();
  client = createExampleClient({ connection, keys, warrantFor: (id) => (id.startsWith('grant-') ? SECRETS.warrant : undefined) });
});

afterAll(async () => {
  if (worker && worker.getState() === 'RUNNING') worker.shutdown();
  await workerRun;
  await nativeConnection?.close();
  await connection?.close();
  keys?.close();
  await dev?.stop();
});

const request = (id: string, failNotification = false): GrantRequest => ({
  requestId: id,
  subject: { name: SECRETS.name, email: SECRETS.email },
  delegationToken: SECRETS.token,
  resource: 'db:orders:read',
  failNotification,
});

function expectNoSecrets(bytes: Buffer, where: string): void {
  for (const [name, secret] of Object.entries(SECRETS)) {
    expect(bytes.includes(Buffer.from(secret)), `${name} in plaintext in ${where}`).toBe(false);
  }
}

describe('the access-grant saga against a real Temporal server', () => {
  it('completes (signal, query, update, child, activities) and its stored history holds no plaintext secret', async () => {
    const id = 'grant-happy-1';
    const out = await runAccessGrant(client, id, request(id), { approver: 'dana@corp.example', note: SECRETS.approverNote });
    expect(out.result.stage).toBe('granted');
    expect(out.result.auditRecord).toContain(SECRETS.email); // the client decodes what the server stores sealed
    expect(out.queried).toMatchObject({ stage: 'awaiting-approval', subjectEmail: SECRETS.email });
    expect(out.updated).toBe(`justification for ${SECRETS.email} set`);

    const parent = await rawHistory(connection, NS, id);
    const child = await rawHistory(connection, NS, `${id}-audit`);
    expectNoSecrets(parent.bytes, 'parent history');
    expectNoSecrets(child.bytes, 'child history');

    const found = [...historyPayloads(parent.events), ...historyPayloads(child.events)];
    const notOurs = found.filter((p) => p.meta.encoding !== 'binary/encrypted').map((p) => `${p.eventType} ${p.path} (${p.meta.encoding})`);
    expect(notOurs).toEqual([]);
    // Inputs, results, the signal, the update, the warrant header, the activity results, the child's input/result.
    const types = new Set(found.map((p) => p.eventType));
    for (const t of ['WORKFLOW_EXECUTION_STARTED', 'WORKFLOW_EXECUTION_SIGNALED', 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED', 'WORKFLOW_EXECUTION_UPDATE_COMPLETED', 'ACTIVITY_TASK_SCHEDULED', 'ACTIVITY_TASK_COMPLETED', 'START_CHILD_WORKFLOW_EXECUTION_INITIATED', 'CHILD_WORKFLOW_EXECUTION_COMPLETED', 'WORKFLOW_EXECUTION_COMPLETED']) {
      expect(types, `no payload found in ${t}`).toContain(t);
    }
    expect(found.some((p) => p.eventType === 'WORKFLOW_EXECUTION_STARTED' && p.path.includes('header.fields.warrant'))).toBe(true);
    expect(found.some((p) => p.eventType === 'ACTIVITY_TASK_SCHEDULED' && p.path.includes('header.fields.warrant'))).toBe(true);

    // Each workflow's payloads are sealed to that workflow; the child's input and result, also where
    // they appear in the parent's history, to the child.
    const childEvents = new Set(['START_CHILD_WORKFLOW_EXECUTION_INITIATED', 'CHILD_WORKFLOW_EXECUTION_COMPLETED']);
    for (const p of historyPayloads(parent.events)) {
      expect(p.meta['envelope-workflow-id'], `${p.eventType} ${p.path}`).toBe(childEvents.has(p.eventType) ? `${id}-audit` : id);
    }
    for (const p of historyPayloads(child.events)) expect(p.meta['envelope-workflow-id']).toBe(`${id}-audit`);
    const deks = (wf: string) => new Set(found.filter((p) => p.meta['envelope-workflow-id'] === wf).map((p) => p.meta['envelope-dek']));
    // One DEK per workflow per process: the client's (input, signal, update) and the worker's.
    expect(deks(id).size).toBe(2);
    expect(deks(`${id}-audit`).size).toBe(1);
    expect([...deks(id)].filter((d) => deks(`${id}-audit`).has(d))).toEqual([]);
  });

  it('runs the compensation when an activity fails with PII in its message, and the message is sealed too', async () => {
    const id = 'grant-compensate-1';
    const out = await runAccessGrant(client, id, request(id, true));
    expect(out.result.stage).toBe('compensated');
    expect(out.result.reason).toContain(SECRETS.email);

    const parent = await rawHistory(connection, NS, id);
    expectNoSecrets(parent.bytes, 'history of the compensated saga');
    const failed = parent.events.find((e) => e.activityTaskFailedEventAttributes)?.activityTaskFailedEventAttributes?.failure;
    expect(failed?.message).toBe('Encoded failure'); // encodeCommonAttributes: the real message is in encodedAttributes
    expect(Buffer.from(failed!.encodedAttributes!.metadata!.encoding!).toString()).toBe('binary/encrypted');
  });

  it('a workflow failure message is sealed as well (encodeCommonAttributes), so is a workflow started without the warrant', async () => {
    const id = 'nowarrant-1';
    const handle = await client.workflow.start('accessGrantSaga', { taskQueue: TASK_QUEUE, workflowId: id, args: [request(id)] });
    await handle.signal('approve', { approver: 'dana@corp.example', note: 'fine' });
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const history = await rawHistory(connection, NS, id);
    expectNoSecrets(history.bytes, 'history of the failed workflow');
    const wfFailure = history.events.find((e) => e.workflowExecutionFailedEventAttributes)?.workflowExecutionFailedEventAttributes?.failure;
    expect(wfFailure?.message).toBe('Encoded failure');
  });
});

describe('the temporal CLI through our codec server', () => {
  const operator = token('operator', ['sre']);
  const tenantSupport = token('support', ['support']);
  let url: string;
  let close: () => Promise<void>;
  let audits: () => Record<string, unknown>[];

  beforeAll(async () => {
    const serverKeys = await LocalKeyring.open({ path: keyringPath, create: false, watchIntervalMs: 200 });
    const srv = await buildTestServer(
      {
        auth: { staticTokens: [operator.entry, tenantSupport.entry] },
        policy: {
          onDeny: 'leave-sealed',
          rules: [
            { groups: ['sre'], namespaces: [NS], actions: ['decode'] },
            { groups: ['support'], namespaces: [NS], workflowIdPatterns: ['tenant-other-*'], actions: ['decode'] },
          ],
        },
      },
      serverKeys,
    );
    url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
    audits = srv.audits;
    close = async () => {
      await srv.app.close();
      serverKeys.close();
    };
  });
  afterAll(async () => close?.());

  const show = (workflowId: string, auth?: string) =>
    run(TEMPORAL_BIN, ['workflow', 'show', '--address', dev.address, '--namespace', NS, '--workflow-id', workflowId, '--detailed', '--codec-endpoint', url, ...(auth ? ['--codec-auth', auth] : [])], {
      maxBuffer: 16 * 1024 * 1024,
    });

  it('shows the decoded input to an authorized operator', async () => {
    const { stdout } = await show('grant-happy-1', `Bearer ${operator.value}`);
    expect(stdout).toContain(`input[0].delegationToken: ${SECRETS.token}`);
    expect(stdout).toContain(`input[0].subject.email: ${SECRETS.email}`);
    expect(audits().some((a) => a.principal === 'operator' && a.decision === 'allowed' && (a.verifiedWorkflowIds as string[] | undefined)?.includes('grant-happy-1'))).toBe(true);
  });

  it('shows sealed payloads to an operator the policy does not allow for that workflow', async () => {
    const { stdout } = await show('grant-happy-1', `Bearer ${tenantSupport.value}`);
    for (const secret of Object.values(SECRETS)) expect(stdout).not.toContain(secret);
    expect(stdout).toContain(`input.payloads[0].metadata.encoding: ${Buffer.from('binary/encrypted').toString('base64')}`);
    expect(audits().some((a) => a.principal === 'support' && a.decision === 'denied')).toBe(true);
  });

  it('fails without credentials: our server answers 401, the CLI retries it until its deadline', async () => {
    const err = (await show('grant-happy-1').catch((e: unknown) => e)) as { code?: number; stderr?: string; stdout?: string };
    expect(err.code).not.toBe(0);
    // temporal 1.9 wraps the codec call in its gRPC retries and reports "context deadline exceeded".
    expect(err.stderr).toMatch(/Error: .*(401|Unauthorized|deadline exceeded)/);
    expect(`${err.stderr}${err.stdout}`).not.toContain(SECRETS.token);
    expect(audits().some((a) => a.principal === null && a.status === 401 && a.decision === 'unauthenticated')).toBe(true);
    // The CLI never shows the 401's body, so the server's log says what was missing and what to pass.
    const refused = audits().filter((a) => a.principal === null && a.status === 401);
    expect(refused.at(-1)?.reason).toContain('the temporal CLI sends none without --codec-auth "Bearer <token>" (or TEMPORAL_CODEC_AUTH)');
  });
});

describe('key rotation while workflows run', () => {
  it('a workflow started before a KEK rotation completes after it; new workflows use the new KEK; all history decodes', async () => {
    const before = keys.primaryKeyId();
    const waiting = await client.workflow.start(waitForSignal, { taskQueue: TASK_QUEUE, workflowId: 'rotate-waiting', args: [{ secret: 'rotation-secret-1' }] });

    const rotated = await runCli(['keys', 'rotate', '--keyring', keyringPath, '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    // The worker's and client's keyring re-reads the file on its own (watchIntervalMs 200 here).
    await expect.poll(() => keys.primaryKeyId(), { timeout: 10_000 }).not.toBe(before);
    const after = keys.primaryKeyId();

    // Load during and after the rotation: 20 workflows started at once.
    const load = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.workflow.start(waitForSignal, { taskQueue: TASK_QUEUE, workflowId: `rotate-load-${i}`, args: [{ secret: `load-${i}` }] })),
    );
    await Promise.all(load.map((h, i) => h.signal(proceed, `go-${i}`)));
    await waiting.signal(proceed, 'after-rotation');
    expect(await waiting.result()).toBe('rotation-secret-1:after-rotation');
    expect(await Promise.all(load.map((h) => h.result()))).toEqual(load.map((_, i) => `load-${i}:go-${i}`));

    // The waiting workflow's history mixes KEKs: its input under the old one, its signal and result
    // sealed by a DEK the worker still had cached (same KEK) — and every payload opens.
    const history = historyPayloads((await rawHistory(connection, NS, 'rotate-waiting')).events);
    expect(history.map((p) => p.meta['encryption-key-id'])).toContain(before);
    const reader = new EnvelopeCodec({ keyProviders: await LocalKeyring.open({ path: keyringPath, create: false, watchIntervalMs: 0 }) });
    const opened = await reader.decode(history.map((p) => p.payload), { type: 'workflow', namespace: NS, workflowId: 'rotate-waiting' });
    expect(opened.map((p) => Buffer.from(p.metadata!.encoding!).toString())).toEqual(history.map(() => 'json/plain'));

    // Every new workflow's input is wrapped by the new KEK.
    for (let i = 0; i < 20; i++) {
      const started = historyPayloads((await rawHistory(connection, NS, `rotate-load-${i}`)).events).find((p) => p.eventType === 'WORKFLOW_EXECUTION_STARTED');
      expect(started?.meta['encryption-key-id']).toBe(after);
    }
  });
});
