import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec } from '../codecs/envelope-codec.js';
import { LocalKeyring } from '../keys/local-keyring.js';
import { parseJson, runCli } from './cli-support/run-cli.js';
import { startDevServer, type DevServer } from './cli-support/temporal-dev.js';

/**
 * `keys usage` against a real Temporal dev server: workflows started through the codec (no worker
 * needed: inputs, memo and signals are in history from the start), a rotation in between, and the
 * count per KEK and scope that `keys retire` relies on, with format version 2's payloads (branch
 * keys) counted under their KEK like any other and, besides, per branch key. Ends with the operator's whole flow:
 * init → rotate → usage → retire.
 */

interface UsageOut {
  scan: { executions: number; payloads: number; unencrypted: number; failedExecutions: number; byKey: Record<string, { payloads: number; scopes: number; v2?: number; branchKeys?: number }>; schedules?: unknown };
  keys: { id: string; state: string; payloads: number; scopes: number }[];
  byScope?: { namespace: string; workflowId?: string; keyId: string; payloads: number }[];
  savedTo: string | null;
}

let server: DevServer;
let dir: string;
let keyring: string;
let connection: Connection;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'te-cli-usage-'));
  keyring = path.join(dir, 'keyring.json');
  server = await startDevServer({ namespaces: ['other'] });
  connection = await Connection.connect({ address: server.address });
});

afterAll(async () => {
  await connection?.close();
  await server?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

const usageArgs = (...extra: string[]) => ['keys', 'usage', '--address', server.address, '--namespace', 'default', '--keyring', keyring, '--json', ...extra];

/** Visibility is eventually consistent: rescan until the expected number of executions shows. */
async function usageWhen(predicate: (u: UsageOut) => boolean, ...extra: string[]): Promise<UsageOut> {
  const end = Date.now() + 60_000;
  for (;;) {
    const r = await runCli(usageArgs(...extra));
    expect(r.code, r.stderr).toBe(0);
    const out = parseJson<UsageOut>(r.stdout);
    if (predicate(out)) return out;
    if (Date.now() > end) throw new Error(`keys usage never matched; last: ${r.stdout}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

describe('keys usage / retire against a live Temporal dev server', () => {
  it('counts payloads per key version and scope, and gates retire on the result', async () => {
    const init = await runCli(['keys', 'init', '--keyring', keyring, '--json']);
    expect(init.code, init.stderr).toBe(0);
    const v1 = parseJson<{ key: { id: string } }>(init.stdout).key.id;

    const ring = await LocalKeyring.open({ path: keyring, create: false, watchIntervalMs: 50 });
    try {
      const codec = new EnvelopeCodec({ keyProviders: ring });
      const client = new Client({ connection, namespace: 'default', dataConverter: { payloadCodecs: [codec] } });
      const start = (id: string, arg: unknown) =>
        client.workflow.start('orderWorkflow', { taskQueue: 'no-worker-needed', workflowId: id, args: [arg], memo: { customer: `c-${id}` } });

      // Three workflows under v1: one input and one memo payload each.
      for (const id of ['order-1', 'order-2', 'order-3']) await start(id, { id, total: 10 });

      const rot = await runCli(['keys', 'rotate', '--keyring', keyring, '--json']);
      expect(rot.code, rot.stderr).toBe(0);
      const v2 = parseJson<{ primary: { id: string } }>(rot.stdout).primary.id;
      const deadline = Date.now() + 30_000;
      while (ring.primaryKeyId() !== v2) {
        if (Date.now() > deadline) throw new Error('keyring never reloaded');
        await new Promise((res) => setTimeout(res, 50));
      }

      // Two more under v2, sealed by a client with branch keys (format version 2, one branch key
      // for the namespace), and a v2 signal (format version 1) into a v1 workflow's history.
      const branchCodec = new EnvelopeCodec({ keyProviders: ring, keyHierarchy: 'branch' });
      const branchClient = new Client({ connection, namespace: 'default', dataConverter: { payloadCodecs: [branchCodec] } });
      for (const id of ['order-4', 'order-5']) {
        await branchClient.workflow.start('orderWorkflow', { taskQueue: 'no-worker-needed', workflowId: id, args: [{ id, total: 20 }], memo: { customer: `c-${id}` } });
      }
      branchCodec.close();
      await client.workflow.getHandle('order-1').signal('addItem', { sku: 'x' });
      // One started without the codec: plaintext, counted as not encrypted.
      await new Client({ connection, namespace: 'default' }).workflow.start('orderWorkflow', { taskQueue: 'no-worker-needed', workflowId: 'plain-1', args: ['plain'] });

      const usage = await usageWhen((u) => u.scan.executions === 6, '--by-scope', '--save');
      expect(usage.scan.failedExecutions).toBe(0);
      expect(usage.scan.schedules).toEqual({ scanned: 0, failed: 0, payloads: 0, unencrypted: 0, byKey: {} });
      expect(usage.scan.byKey[v1]).toEqual({ payloads: 6, scopes: 3, shreddable: 0, v2: 0, branchKeys: 0 });
      expect(usage.scan.byKey[v2]).toEqual({ payloads: 5, scopes: 3, shreddable: 0, v2: 4, branchKeys: 1 });
      expect(usage.scan.unencrypted).toBe(1);
      expect(usage.scan.payloads).toBe(12);
      expect(usage.keys.map((k) => [k.id, k.state, k.payloads])).toEqual([
        [v1, 'decrypt-only', 6],
        [v2, 'primary', 5],
      ]);
      expect(usage.byScope).toContainEqual({ namespace: 'default', workflowId: 'order-1', keyId: v2, payloads: 1 });
      expect(usage.byScope).toContainEqual({ namespace: 'default', workflowId: 'order-1', keyId: v1, payloads: 2 });
      expect(usage.savedTo).toBe(`${keyring}.usage.json`);

      // The human-readable summary table.
      const table = await runCli(usageArgs().filter((a) => a !== '--json'));
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toMatch(/KEY ID\s+STATE\s+PAYLOADS\s+SCOPES\s+SCHEDULES\s+SHREDDABLE\s+V2\s+BRANCH KEYS/);
      expect(table.stdout).toMatch(new RegExp(`${v2}\\s+primary\\s+5\\s+3\\s+0\\s+0\\s+4\\s+1`));
      expect(table.stdout).toMatch(new RegExp(`${v1}\\s+decrypt-only\\s+6\\s+3\\s+0\\s+0`));
      expect(table.stdout).toContain('Scanned 6 workflow execution(s) and 0 schedule(s): 12 payload(s), 1 not encrypted');

      // --since uses an OR over ExecutionStatus/CloseTime: the dev server's visibility must accept it.
      const since = await usageWhen((u) => u.scan.executions === 6, '--since', '1h');
      expect(since.scan.payloads).toBe(12);
      const until = await usageWhen(() => true, '--until', '2000-01-01T00:00:00Z');
      expect(until.scan.executions).toBe(0);

      // v1 is still in history: retire refuses, naming the count.
      const refused = await runCli(['keys', 'retire', v1, '--keyring', keyring, '--settle', '0']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`found 6 payload(s) wrapped by ${v1}`);

      // Retention would remove these histories; deleting them stands in for that here.
      for (const id of ['order-1', 'order-2', 'order-3']) {
        await connection.workflowService.deleteWorkflowExecution({ namespace: 'default', workflowExecution: { workflowId: id } });
      }
      const after = await usageWhen((u) => u.scan.executions === 3 && (u.scan.byKey[v1]?.payloads ?? 0) === 0, '--save');
      expect(after.keys.find((k) => k.id === v1)?.payloads).toBe(0);

      const retired = await runCli(['keys', 'retire', v1, '--keyring', keyring, '--settle', '0']);
      expect(retired.code, retired.stderr).toBe(0);
      const list = parseJson<{ keys: { id: string; state: string }[] }>((await runCli(['keys', 'list', '--keyring', keyring, '--json'])).stdout);
      expect(list.keys.map((k) => [k.id, k.state])).toEqual([
        [v1, 'retired'],
        [v2, 'primary'],
      ]);
    } finally {
      ring.close();
    }
  });

  it('fails clearly for a namespace that does not exist and for a server that is not there (exit 1)', async () => {
    const ns = await runCli(['keys', 'usage', '--address', server.address, '--namespace', 'no-such-ns', '--keyring', keyring]);
    expect(ns.code).toBe(1);
    expect(ns.stderr).toContain('namespace "no-such-ns" not found');

    const other = await runCli(['keys', 'usage', '--address', server.address, '--namespace', 'other', '--keyring', keyring, '--json']);
    expect(other.code, other.stderr).toBe(0);
    expect(parseJson<UsageOut>(other.stdout).scan.executions).toBe(0);

    const down = await runCli(['keys', 'usage', '--address', '127.0.0.1:1', '--connect-timeout', '1s', '--keyring', keyring, '--json']);
    expect(down.code).toBe(1);
    expect(parseJson<{ error: { code: string; message: string } }>(down.stderr).error).toMatchObject({ code: 'TEMPORAL_UNAVAILABLE' });
  });
});
