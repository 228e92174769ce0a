import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalKeyring } from '../keys/local-keyring.js';
import { exampleCodec, FAILURE_CONVERTER_PATH } from '../examples/codec.js';
import { createExampleWorker, exampleWorkflowBundle } from '../examples/worker.js';
import { scheduledReport } from '../examples/workflows.js';
import { forEachPayload } from '../src/cli/usage/history-payloads.js';
import { parseJson, runCli } from './cli-support/run-cli.js';
import { startDevServer, type DevServer } from './cli-support/temporal-dev.js';

/**
 * Rotation and schedules against a real Temporal dev server: a schedule created under KEK v1 keeps
 * v1 in use after a rotation (`keys usage` counts it, per schedule), `keys retire` refuses, `keys
 * reseal-schedules` re-seals what the schedule stores under v2 through UpdateSchedule (everything
 * else of the schedule unchanged, idempotent), after which the scan is clean, v1 is retired, and
 * the schedule's next run still works. A schedule's own memo cannot be updated on Server 1.32: that
 * is reported, and retire keeps refusing until the schedule is gone.
 */

interface UsageOut {
  scan: { payloads: number; byKey: Record<string, { payloads: number }>; schedules: { scanned: number; failed: number; payloads: number; byKey: Record<string, { payloads: number; schedules: string[] }> } };
  keys: { id: string; state: string; payloads: number; schedules: number }[];
  bySchedule?: { scheduleId: string; keyId: string; payloads: number }[];
}
interface ResealOut {
  primary: string;
  dryRun: boolean;
  schedules: { scheduleId: string; outcome: string; payloads: number; stale: number; resealed: number; fromKeys: Record<string, number>; error?: string }[];
}

const NS = 'default';
const QUEUE = 'reseal';
const SECRET = 'reseal-input-canary-Fv20';
const { Schedule } = proto.temporal.api.schedule.v1;

let server: DevServer;
let dir: string;
let keyring: string;
let ring: LocalKeyring;
let connection: Connection;
let native: NativeConnection;
let worker: Worker;
let workerRun: Promise<void>;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'te-cli-schedules-'));
  keyring = path.join(dir, 'keyring.json');
  server = await startDevServer();
  connection = await Connection.connect({ address: server.address });
  native = await NativeConnection.connect({ address: server.address });
});

afterAll(async () => {
  if (worker && worker.getState() === 'RUNNING') worker.shutdown();
  await workerRun;
  ring?.close();
  await native?.close();
  await connection?.close();
  await server?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

const conn = () => ['--address', server.address, '--namespace', NS, '--keyring', keyring];
const usage = async (...extra: string[]) => {
  const r = await runCli(['keys', 'usage', ...conn(), '--json', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return parseJson<UsageOut>(r.stdout);
};
/** Visibility (ListSchedules) is eventually consistent: rescan until the schedules show. */
async function usageWhen(predicate: (u: UsageOut) => boolean, ...extra: string[]): Promise<UsageOut> {
  const end = Date.now() + 60_000;
  for (;;) {
    const out = await usage(...extra);
    if (predicate(out)) return out;
    if (Date.now() > end) throw new Error(`keys usage never matched; last: ${JSON.stringify(out.scan)}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}
const reseal = async (...extra: string[]) => {
  const r = await runCli(['keys', 'reseal-schedules', ...conn(), '--json', ...extra]);
  return { code: r.code, stderr: r.stderr, out: parseJson<ResealOut>(r.stdout) };
};
const describeRaw = (scheduleId: string) => connection.workflowService.describeSchedule({ namespace: NS, scheduleId });

/**
 * A schedule as canonical JSON (map keys sorted: the server writes protobuf maps in random order),
 * optionally with every payload emptied: what must not change when only payloads are re-sealed.
 */
function canonical(schedule: proto.temporal.api.schedule.v1.ISchedule, options: { withoutPayloads?: boolean } = {}): string {
  const copy = Schedule.decode(Schedule.encode(schedule).finish());
  if (options.withoutPayloads) {
    forEachPayload(copy, (p) => {
      p.metadata = {};
      p.data = new Uint8Array();
    });
  }
  const sorted = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sorted) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])])) : v;
  return JSON.stringify(sorted(copy.toJSON()));
}
const withoutPayloads = (schedule: proto.temporal.api.schedule.v1.ISchedule) => canonical(schedule, { withoutPayloads: true });
function keyIdsIn(schedule: proto.temporal.api.schedule.v1.ISchedule | null | undefined): { keyId: string; workflowId: string | undefined }[] {
  const out: { keyId: string; workflowId: string | undefined }[] = [];
  forEachPayload(schedule, (p) => {
    const meta = p.metadata ?? {};
    if (meta['encryption-key-id']) out.push({ keyId: Buffer.from(meta['encryption-key-id']).toString(), workflowId: meta['envelope-workflow-id'] ? Buffer.from(meta['envelope-workflow-id']).toString() : undefined });
  });
  return out;
}

describe('schedules in rotation: usage, retire, reseal-schedules', () => {
  it('a schedule sealed under v1 blocks retiring v1 until reseal-schedules moves it to v2; its next run still works', async () => {
    const init = await runCli(['keys', 'init', '--keyring', keyring, '--json']);
    expect(init.code, init.stderr).toBe(0);
    const v1 = parseJson<{ key: { id: string } }>(init.stdout).key.id;
    ring = await LocalKeyring.open({ path: keyring, create: false, watchIntervalMs: 50 });
    worker = await createExampleWorker({ connection: native, keys: ring, taskQueue: QUEUE, workflowBundle: await exampleWorkflowBundle() });
    workerRun = worker.run();
    const client = new Client({ connection, namespace: NS, dataConverter: { payloadCodecs: [exampleCodec(ring)], failureConverterPath: FAILURE_CONVERTER_PATH } });

    // Under v1: a schedule with args, memo and summary (3 payloads), and one with its own memo too (2).
    const yearly = { calendars: [{ month: 'JANUARY' as const, dayOfMonth: 1 }] };
    const nightly = await client.schedule.create({
      scheduleId: 'nightly',
      spec: yearly,
      action: { type: 'startWorkflow', workflowType: scheduledReport, taskQueue: QUEUE, workflowId: 'nightly-report', args: [{ secret: SECRET }], memo: { customer: 'acme' }, staticSummary: 'nightly report' },
      policies: { overlap: 'ALLOW_ALL' },
      state: { note: 'kept as it is' },
    });
    const withMemo = await client.schedule.create({
      scheduleId: 'with-own-memo',
      spec: yearly,
      memo: { owner: 'team-reports' },
      action: { type: 'startWorkflow', workflowType: scheduledReport, taskQueue: QUEUE, workflowId: 'memo-report', args: [{ secret: SECRET }] },
    });

    const rot = await runCli(['keys', 'rotate', '--keyring', keyring, '--json']);
    expect(rot.code, rot.stderr).toBe(0);
    const v2 = parseJson<{ primary: { id: string } }>(rot.stdout).primary.id;
    const end = Date.now() + 30_000;
    while (ring.primaryKeyId() !== v2) {
      if (Date.now() > end) throw new Error('keyring never reloaded');
      await new Promise((r) => setTimeout(r, 50));
    }

    // 1. keys usage sees the schedules' payloads, per key and per schedule.
    const before = await usageWhen((u) => u.scan.schedules.scanned === 2, '--by-scope', '--save');
    expect(before.scan.schedules.failed).toBe(0);
    expect(before.scan.schedules.byKey[v1]).toEqual({ payloads: 5, schedules: ['nightly', 'with-own-memo'] });
    expect(before.scan.byKey[v1]?.payloads).toBe(5);
    expect(before.keys.find((k) => k.id === v1)).toMatchObject({ state: 'decrypt-only', payloads: 5, schedules: 2 });
    expect(before.bySchedule).toEqual([
      { scheduleId: 'nightly', keyId: v1, payloads: 3 },
      { scheduleId: 'with-own-memo', keyId: v1, payloads: 2 },
    ]);
    const table = await runCli(['keys', 'usage', ...conn()]);
    expect(table.stdout).toContain('Scanned 0 workflow execution(s) and 2 schedule(s)');
    // Scopes: the two action ids, and the namespace scope of the own memo (the client seals it without a context).
    expect(table.stdout).toMatch(new RegExp(`${v1}\\s+decrypt-only\\s+5\\s+3\\s+2\\s+0`));
    expect(table.stdout).toContain('"temporal-envelope keys reseal-schedules" re-seals them');

    // 2. keys retire refuses, naming the schedules.
    let retire = await runCli(['keys', 'retire', v1, '--keyring', keyring, '--settle', '0']);
    expect(retire.code).toBe(1);
    expect(retire.stderr).toContain('found 5 of them in schedule(s) "nightly", "with-own-memo", which every future run needs');

    // 3. A dry run reports and changes nothing.
    const described = await describeRaw('nightly');
    const dry = await reseal('--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.out.schedules).toEqual([
      { scheduleId: 'nightly', outcome: 'would-reseal', payloads: 3, stale: 3, resealed: 3, fromKeys: { [v1]: 3 } },
      { scheduleId: 'with-own-memo', outcome: 'would-reseal', payloads: 2, stale: 2, resealed: 2, fromKeys: { [v1]: 2 } },
    ]);
    expect(canonical((await describeRaw('nightly')).schedule!)).toBe(canonical(described.schedule!));

    // 4. Re-seal: the action moves to v2 in the same scope, everything else of the schedule as it was.
    //    The own memo cannot be updated on this server: reported, exit 1.
    const first = await reseal();
    expect(first.code).toBe(1);
    expect(first.stderr).toContain('RESEAL_INCOMPLETE');
    expect(first.out.primary).toBe(v2);
    expect(first.out.schedules[0]).toMatchObject({ scheduleId: 'nightly', outcome: 'resealed', resealed: 3 });
    expect(first.out.schedules[1]).toMatchObject({ scheduleId: 'with-own-memo', outcome: 'memo-left', resealed: 1, error: expect.stringMatching(/memo updates are not supported/) });
    const after = await describeRaw('nightly');
    expect(withoutPayloads(after.schedule!)).toBe(withoutPayloads(described.schedule!));
    expect(keyIdsIn(after.schedule)).toEqual(Array(3).fill({ keyId: v2, workflowId: 'nightly-report' }));
    expect(after.schedule!.state?.notes).toBe('kept as it is');
    expect(keyIdsIn((await describeRaw('with-own-memo')).schedule)).toEqual([{ keyId: v2, workflowId: 'memo-report' }]);
    // The client still reads the schedule's action.
    const desc = await nightly.describe();
    expect(desc.action.type === 'startWorkflow' && desc.action.args).toEqual([{ secret: SECRET }]);

    // 5. Idempotent: nothing left to do for "nightly"; the memo is still reported.
    const second = await reseal();
    expect(second.out.schedules[0]).toMatchObject({ scheduleId: 'nightly', outcome: 'current', stale: 0 });
    expect(second.out.schedules[1]).toMatchObject({ scheduleId: 'with-own-memo', outcome: 'memo-left', resealed: 0, stale: 1 });
    expect(withoutPayloads((await describeRaw('nightly')).schedule!)).toBe(withoutPayloads(described.schedule!));
    const text = await runCli(['keys', 'reseal-schedules', ...conn(), '--schedule-id', 'nightly']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/SCHEDULE\s+PAYLOADS\s+UNDER OTHER KEYS\s+RESULT\nnightly\s+3\s+-\s+up to date/);
    expect(text.stdout).not.toContain('with-own-memo');

    // 6. Only the own memo still holds v1: retire refuses, naming that schedule only.
    const partial = await usageWhen((u) => (u.scan.byKey[v1]?.payloads ?? 0) === 1, '--save');
    expect(partial.scan.schedules.byKey[v1]).toEqual({ payloads: 1, schedules: ['with-own-memo'] });
    retire = await runCli(['keys', 'retire', v1, '--keyring', keyring, '--settle', '0']);
    expect(retire.code).toBe(1);
    expect(retire.stderr).toContain('in schedule(s) "with-own-memo"');

    // 7. Recreating (here: deleting) that schedule is the way out; then the scan is clean and v1 retires.
    await withMemo.delete();
    const clean = await usageWhen((u) => u.scan.schedules.scanned === 1, '--save');
    expect(clean.scan.byKey[v1]).toBeUndefined();
    expect(clean.scan.schedules.byKey).toEqual({ [v2]: { payloads: 3, schedules: ['nightly'] } });
    retire = await runCli(['keys', 'retire', v1, '--keyring', keyring, '--settle', '0']);
    expect(retire.code, retire.stderr).toBe(0);

    // 8. The schedule's next run works with v1 retired: its input and memo open (under v2) in the run.
    const endRetired = Date.now() + 30_000;
    while ((await ring.listKeys()).find((k) => k.id === v1)?.state !== 'retired') {
      if (Date.now() > endRetired) throw new Error('the worker never saw the retirement');
      await new Promise((r) => setTimeout(r, 50));
    }
    await nightly.trigger('ALLOW_ALL');
    const runId = await (async () => {
      const stop = Date.now() + 60_000;
      for (;;) {
        const id = (await describeRaw('nightly')).info?.recentActions?.[0]?.startWorkflowResult?.workflowId;
        if (id) return id;
        if (Date.now() > stop) throw new Error('the trigger started no run');
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    expect(runId).toMatch(/^nightly-report-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(await client.workflow.getHandle(runId).result()).toBe(`report for acme: ${SECRET}`);
    await nightly.delete();
  }, 300_000);
});
