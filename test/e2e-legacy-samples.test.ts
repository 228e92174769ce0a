import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec, openKeyProviders, type KeyProvider } from '../codecs/index.js';
import { payloadsToJson } from '../codecs/payload-json.js';
import { parseJson, runCli } from './cli-support/run-cli.js';
import { startDevServer, type DevServer } from './cli-support/temporal-dev.js';
import { historyPayloads, rawHistory } from './e2e-support/history.js';
import { addNote, finish, notes } from './e2e-support/legacy-workflow.js';
import { SAMPLES_KEY_TEXT, SamplesEncryptionCodec } from './support/samples-codec.js';
import { buildTestServer, token } from './support/server-harness.js';

/**
 * The migration as a team lives it, on a real Temporal dev server: a workflow started and signalled
 * by a client and worker on the samples' codec leaves samples-format payloads in history; after
 * `keys import-legacy` a worker on our codec picks the same workflow up (replaying the old payloads),
 * finishes it with envelope-sealed payloads; `decode`, the codec server and `keys usage` read both;
 * `keys retire` refuses the legacy key while history holds its payloads and retires it once they are gone.
 */

const NS = 'default';
const TASK_QUEUE = 'legacy-migration';
const KEY_ID = 'samples-key-2024';
const WF = 'legacy-migration-1';
const SECRETS = { token: 'dlg_tok_SAMPLES_era_9f2', note: 'note-from-samples-era-77', final: 'final-note-envelope-era-31' };
const dir = mkdtempSync(path.join(tmpdir(), 'te-e2e-legacy-'));
const keyring = path.join(dir, 'keyring.json');
const legacyKeys = path.join(dir, 'legacy-keys.json');
const keyArgs = ['--keyring', keyring, '--legacy-keys', legacyKeys];

let dev: DevServer;
let connection: Connection;
let native: NativeConnection;
let bundle: { code: string };
let provider: KeyProvider | undefined;

async function runWorker(codec: PayloadCodec, body: () => Promise<void>): Promise<void> {
  const worker = await Worker.create({ connection: native, namespace: NS, taskQueue: TASK_QUEUE, workflowBundle: bundle, dataConverter: { payloadCodecs: [codec] }, maxCachedWorkflows: 0 });
  await worker.runUntil(body());
}

beforeAll(async () => {
  dev = await startDevServer();
  native = await NativeConnection.connect({ address: dev.address });
  connection = await Connection.connect({ address: dev.address });
  bundle = await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('./e2e-support/legacy-workflow.ts', import.meta.url)), logger: new DefaultLogger('WARN') });
}, 180_000);

afterAll(async () => {
  await provider?.close?.();
  await native?.close();
  await connection?.close();
  await dev?.stop();
});

describe('migrating from the samples codec against a real Temporal server', () => {
  it('a samples-era workflow finishes on our codec; decode, the codec server and keys usage read both formats; retire waits for the legacy payloads to go', async () => {
    // 1. The samples era: client and worker on the samples' codec.
    const samples = await SamplesEncryptionCodec.create(KEY_ID);
    const samplesClient = new Client({ connection, namespace: NS, dataConverter: { payloadCodecs: [samples] } });
    await runWorker(samples, async () => {
      const handle = await samplesClient.workflow.start('legacyMigration', { taskQueue: TASK_QUEUE, workflowId: WF, args: [{ token: SECRETS.token }] });
      await handle.signal(addNote, SECRETS.note);
      expect(await handle.query(notes)).toEqual([SECRETS.note]);
    });

    // 2. Import the samples key as a legacy key; workers move to our codec with it.
    const imported = await runCli(['keys', 'import-legacy', '--id', KEY_ID, '--material-env', 'SAMPLES_KEY', ...keyArgs, '--json'], { env: { SAMPLES_KEY: SAMPLES_KEY_TEXT } });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).not.toContain(SAMPLES_KEY_TEXT);
    provider = await openKeyProviders({ local: { path: keyring, create: true }, legacyKeys: { path: legacyKeys }, watchIntervalMs: 0, warn: () => {} });
    const codec = new EnvelopeCodec({ keyProviders: provider, requireEncryption: true });
    const client = new Client({ connection, namespace: NS, dataConverter: { payloadCodecs: [codec] } });
    let result: unknown;
    await runWorker(codec, async () => {
      const handle = client.workflow.getHandle(WF);
      expect(await handle.query(notes)).toEqual([SECRETS.note]); // replays the samples-format input and signal
      await handle.signal(finish, SECRETS.final);
      result = await handle.result();
    });
    expect(result).toEqual({ token: SECRETS.token, notes: [SECRETS.note, SECRETS.final] });

    // 3. History holds both formats and no secret in plaintext.
    const history = await rawHistory(connection, NS, WF);
    for (const s of Object.values(SECRETS)) expect(history.bytes.includes(Buffer.from(s))).toBe(false);
    const found = historyPayloads(history.events);
    const legacy = found.filter((p) => p.meta['encryption-key-id'] === KEY_ID && p.meta['envelope-version'] === undefined);
    const envelope = found.filter((p) => p.meta['envelope-version'] === '1');
    expect(legacy.map((p) => p.eventType).sort()).toEqual(['WORKFLOW_EXECUTION_SIGNALED', 'WORKFLOW_EXECUTION_STARTED']);
    expect(envelope.map((p) => p.eventType)).toEqual(expect.arrayContaining(['WORKFLOW_EXECUTION_SIGNALED', 'WORKFLOW_EXECUTION_COMPLETED']));
    expect(envelope.every((p) => p.meta['envelope-workflow-id'] === WF)).toBe(true);
    const both = payloadsToJson([...legacy, ...envelope].map((p) => p.payload));

    // 4. The CLI's decode opens both (the legacy ones only with --legacy-keys).
    const input = path.join(dir, 'history-payloads.json');
    writeFileSync(input, JSON.stringify(both));
    const decoded = await runCli(['decode', '--in', input, ...keyArgs]);
    expect(decoded.code, decoded.stderr).toBe(0);
    const opened = (stdout: string) => parseJson<{ payloads: { data: string }[] }>(stdout).payloads.map((p) => Buffer.from(p.data, 'base64').toString()).join('\n');
    for (const s of Object.values(SECRETS)) expect(opened(decoded.stdout)).toContain(s);
    const withoutLegacy = await runCli(['decode', '--in', input, '--keyring', keyring]);
    expect(withoutLegacy.code, withoutLegacy.stderr).toBe(0);
    // Without the legacy key the samples' payloads are not ours: passed through as they came.
    expect(parseJson<{ payloads: unknown[] }>(withoutLegacy.stdout).payloads.slice(0, legacy.length)).toEqual(both.payloads.slice(0, legacy.length));
    expect(opened(withoutLegacy.stdout)).toContain(SECRETS.final);

    // 5. The codec server decodes both for an authorized operator, neither for one limited to other workflows.
    const ops = token('ops');
    const other = token('other', ['tenant-b']);
    const srv = await buildTestServer(
      {
        auth: { staticTokens: [ops.entry, other.entry] },
        policy: { rules: [{ principals: ['ops'], namespaces: [NS], actions: ['decode'] }, { groups: ['tenant-b'], namespaces: [NS], workflowIdPatterns: ['tenant-b/*'], actions: ['decode'] }] },
      },
      provider,
    );
    try {
      const post = (t: string) => srv.app.inject({ method: 'POST', url: '/decode', payload: JSON.stringify(both), headers: { 'content-type': 'application/json', 'x-namespace': NS, authorization: `Bearer ${t}` } });
      const forOps = await post(ops.value);
      expect(forOps.statusCode).toBe(200);
      for (const s of Object.values(SECRETS)) expect(opened(forOps.body)).toContain(s);
      expect((await post(other.value)).json()).toEqual(both);
    } finally {
      await srv.app.close();
    }

    // 6. keys usage counts the legacy payloads; retire refuses while history keeps them.
    const usage = async () => {
      const r = await runCli(['keys', 'usage', '--address', dev.address, '--namespace', NS, ...keyArgs, '--save', '--json']);
      expect(r.code, r.stderr).toBe(0);
      return parseJson<{ scan: { legacy: Record<string, { payloads: number }> }; legacyKeys: { id: string; state: string; payloads: number }[] }>(r.stdout);
    };
    const counted = await usage();
    expect(counted.scan.legacy[KEY_ID]).toEqual({ payloads: 2 });
    expect(counted.legacyKeys).toEqual([{ id: KEY_ID, state: 'decrypt-only', payloads: 2 }]);
    const retireArgs = ['keys', 'retire', KEY_ID, ...keyArgs, '--settle', '0s', '--json'];
    const refused = await runCli(retireArgs);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('KEY_MAY_BE_IN_USE');
    expect(refused.stderr).toContain('2 payload(s) sealed by the samples codec');

    // 7. Retention passes (here: the workflow is deleted); a new scan finds none, and retire succeeds.
    await connection.workflowService.deleteWorkflowExecution({ namespace: NS, workflowExecution: { workflowId: WF } });
    for (let i = 0; i < 60; i++) {
      const again = await usage();
      if ((again.scan.legacy[KEY_ID]?.payloads ?? 0) === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const retired = await runCli(retireArgs);
    expect(retired.code, retired.stderr).toBe(0);
    expect(parseJson<{ key: { id: string; state: string; provider: string } }>(retired.stdout).key).toMatchObject({ id: KEY_ID, state: 'retired', provider: 'legacy' });
  }, 300_000);
});
