import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scheduledReport } from '../examples/workflows.js';
import { isScheduleRunOf } from '../primitives/scope-rules.js';
import { forEachPayload } from '../src/cli/usage/history-payloads.js';
import { TEMPORAL_BIN, type DevServer } from './cli-support/temporal-dev.js';
import { historyPayloads, rawHistory } from './e2e-support/history.js';
import { startTwoWorkers, type TwoWorkers } from './e2e-support/two-workers.js';
import { buildTestServer, token } from './support/server-harness.js';

/**
 * Schedules against a real Temporal dev server (CLI 1.9.1, Server 1.32): the stored action is sealed
 * for the action's workflow id S, each run the server starts is called S-<time>, and a worker with
 * the codec's default options opens the action's input and memo in every run (the schedule-run
 * clause) — for trigger(), a backfill and a spec that fires, and for schedules the `temporal` CLI
 * creates through the codec server. Nothing stored, in run histories or in the schedule itself,
 * holds plaintext.
 */

const run = promisify(execFile);
const NS = 'default';
const QUEUE = 'schedules';
const UI_QUEUE = 'schedules-ui-input';
const CANARY = {
  input: 'sched-input-canary-Zq81',
  memo: 'sched-memo-canary-Lp42',
  summary: 'sched-summary-canary-Wd07',
  details: 'sched-details-canary-Hm33',
  cliInput: 'cli-input-canary-Rt55',
  cliMemo: 'cli-memo-canary-Yx19',
  cliSummary: 'cli-summary-canary-Kb64',
  uiInput: 'ui-input-canary-Nc28',
};
const { DescribeScheduleResponse } = proto.temporal.api.workflowservice.v1;

let dev: DevServer;
let connection: Connection;
let client: Client;
let fixture: TwoWorkers;
let codecUrl: string;
let closeCodecServer: () => Promise<void>;
const ops = token('ops');

beforeAll(async () => {
  // A worker with the default options on QUEUE, one that accepts namespace-scoped input on UI_QUEUE.
  fixture = await startTwoWorkers({ namespace: NS, queue: QUEUE, uiQueue: UI_QUEUE });
  ({ dev, connection, client } = fixture);
  const srv = await buildTestServer({ auth: { staticTokens: [ops.entry] }, policy: { rules: [{ principals: ['ops'], namespaces: [NS], actions: ['decode', 'encode'] }] } }, fixture.keys);
  codecUrl = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  closeCodecServer = () => srv.app.close();
});

afterAll(async () => {
  await closeCodecServer?.();
  await fixture?.stop();
});

async function describeRaw(scheduleId: string) {
  const res = await connection.workflowService.describeSchedule({ namespace: NS, scheduleId });
  return { res, bytes: Buffer.from(DescribeScheduleResponse.encode(res).finish()) };
}

/** The workflow ids a schedule has started so far (its recent actions), once `done` says enough. */
async function runsOf(scheduleId: string, done: (ids: string[]) => boolean, timeoutMs = 90_000): Promise<string[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const { res } = await describeRaw(scheduleId);
    const ids = [...new Set((res.info?.recentActions ?? []).map((a) => a.startWorkflowResult?.workflowId ?? '').filter(Boolean))];
    if (done(ids)) return ids;
    if (Date.now() > end) throw new Error(`schedule ${scheduleId} started only ${JSON.stringify(ids)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function expectNoCanary(bytes: Buffer, where: string, canaries: readonly string[] = Object.values(CANARY)): void {
  for (const c of canaries) expect(bytes.includes(Buffer.from(c)), `${c} in plaintext in ${where}`).toBe(false);
}

/** Every payload of ours in the stored schedule names `actionId`: input, memo, summary and details. */
function expectActionSealedFor(res: Awaited<ReturnType<typeof describeRaw>>['res'], actionId: string, fields: readonly string[]): void {
  const found: { path: string; encoding: string; workflowId: string | undefined }[] = [];
  forEachPayload(res.schedule?.action, (p, at) =>
    found.push({ path: at, encoding: Buffer.from(p.metadata!.encoding!).toString(), workflowId: p.metadata!['envelope-workflow-id'] ? Buffer.from(p.metadata!['envelope-workflow-id']).toString() : undefined }),
  );
  for (const field of fields) expect(found.some((f) => f.path.includes(field)), `no payload at ${field}: ${JSON.stringify(found)}`).toBe(true);
  for (const f of found.filter((x) => !x.path.includes('searchAttributes'))) {
    expect(f, f.path).toMatchObject({ encoding: 'binary/encrypted', workflowId: actionId });
  }
}

async function expectRunCompletedSealed(runId: string, actionId: string, expected: string, canaries: readonly string[]): Promise<void> {
  expect(isScheduleRunOf(runId, actionId), `${runId} is not a run of ${actionId}`).toBe(true);
  expect(await client.workflow.getHandle(runId).result()).toBe(expected);
  const history = await rawHistory(connection, NS, runId);
  expectNoCanary(history.bytes, `history of ${runId}`, canaries);
  const started = historyPayloads(history.events).filter((p) => p.eventType === 'WORKFLOW_EXECUTION_STARTED' && !p.path.includes('searchAttributes'));
  expect(started.length).toBeGreaterThan(0);
  // The run's input, memo and summary are the schedule's, sealed for the action id; the run opened them.
  for (const p of started) expect(p.meta, p.path).toMatchObject({ encoding: 'binary/encrypted', 'envelope-workflow-id': actionId });
  const completed = historyPayloads(history.events).find((p) => p.eventType === 'WORKFLOW_EXECUTION_COMPLETED');
  expect(completed?.meta['envelope-workflow-id']).toBe(runId);
}

describe('schedules created with the TypeScript client', () => {
  const action = (workflowId: string) =>
    ({
      type: 'startWorkflow',
      workflowType: scheduledReport,
      taskQueue: QUEUE,
      workflowId,
      args: [{ secret: CANARY.input }],
      memo: { customer: CANARY.memo },
      staticSummary: CANARY.summary,
      staticDetails: CANARY.details,
    }) as const;
  const expected = `report for ${CANARY.memo}: ${CANARY.input}`;

  it('a spec that fires every 2 s: each run completes on a worker with the default options', async () => {
    const handle = await client.schedule.create({ scheduleId: 'every-2s', spec: { intervals: [{ every: '2s' }] }, action: action('fires-report'), policies: { overlap: 'ALLOW_ALL' } });
    try {
      const ids = await runsOf('every-2s', (r) => r.length >= 2);
      for (const id of ids.slice(0, 2)) await expectRunCompletedSealed(id, 'fires-report', expected, Object.values(CANARY));
      expectNoCanary((await describeRaw('every-2s')).bytes, 'DescribeSchedule of a schedule that has run');
    } finally {
      await handle.delete();
    }
  }, 150_000);

  it('trigger() and a backfill start runs named <id>-<time> that complete; DescribeSchedule holds no plaintext', async () => {
    // A spec that does not fire during the test (1 January, 00:00 UTC): every run here is the trigger's or the backfill's.
    const handle = await client.schedule.create({
      scheduleId: 'manual',
      spec: { calendars: [{ month: 'JANUARY', dayOfMonth: 1, hour: 0, minute: 0 }] },
      action: action('manual-report'),
      policies: { overlap: 'ALLOW_ALL' },
    });
    try {
      const { res, bytes } = await describeRaw('manual');
      expectNoCanary(bytes, 'DescribeSchedule');
      expectActionSealedFor(res, 'manual-report', ['input', 'memo', 'userMetadata.summary', 'userMetadata.details']);
      // The client reads it back (it decodes with the action's workflow id as context).
      const described = await handle.describe();
      expect(described.action.type === 'startWorkflow' && described.action.args).toEqual([{ secret: CANARY.input }]);

      await handle.trigger('ALLOW_ALL');
      await handle.backfill([{ start: new Date('2025-12-31T23:00:00Z'), end: new Date('2026-01-01T01:00:00Z'), overlap: 'ALLOW_ALL' }]);
      const ids = await runsOf('manual', (r) => r.length >= 2);
      expect(ids).toContain('manual-report-2026-01-01T00:00:00Z');
      const triggered = ids.filter((id) => id !== 'manual-report-2026-01-01T00:00:00Z');
      expect(triggered).toHaveLength(1);
      // The trigger's run is named by when it was asked for, to the second, in UTC.
      expect(Math.abs(Date.parse(triggered[0]!.slice('manual-report-'.length)) - Date.now())).toBeLessThan(120_000);
      for (const id of ids) await expectRunCompletedSealed(id, 'manual-report', expected, Object.values(CANARY));
    } finally {
      await handle.delete();
    }
  }, 150_000);

  it('an action id that already ends in a time: the server appends another, and the run still opens the action', async () => {
    const actionId = 'dated-report-2026-11-25T15:14:31Z';
    const handle = await client.schedule.create({ scheduleId: 'dated', spec: { calendars: [{ month: 'JANUARY', dayOfMonth: 1 }] }, action: action(actionId), policies: { overlap: 'ALLOW_ALL' } });
    try {
      await handle.trigger('ALLOW_ALL');
      const [id] = await runsOf('dated', (r) => r.length >= 1);
      expect(id).toMatch(/^dated-report-2026-11-25T15:14:31Z-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      await expectRunCompletedSealed(id!, actionId, expected, Object.values(CANARY));
    } finally {
      await handle.delete();
    }
  }, 150_000);
});

describe('schedules created with the temporal CLI through the codec server', () => {
  const cli = (...args: string[]) => run(TEMPORAL_BIN, [...args, '--address', dev.address, '--namespace', NS], { maxBuffer: 16 * 1024 * 1024 });
  const codecArgs = (target?: string) => ['--codec-endpoint', codecUrl, '--codec-auth', `Bearer ${ops.value}`, ...(target === undefined ? [] : ['--codec-header', `X-Envelope-Workflow-Id=${target}`])];
  const create = (scheduleId: string, workflowId: string, taskQueue: string, input: string, target?: string) =>
    cli('schedule', 'create', '--schedule-id', scheduleId, '--workflow-id', workflowId, '--type', 'scheduledReport', '--task-queue', taskQueue, '--calendar', '{"month":"1","dayOfMonth":"1"}',
      '--input', JSON.stringify({ secret: input }), '--memo', `customer="${CANARY.cliMemo}"`, '--static-summary', CANARY.cliSummary, '--overlap-policy', 'AllowAll', ...codecArgs(target));

  it('--codec-header X-Envelope-Workflow-Id=<action id>: sealed per workflow, run by a worker with the default options', async () => {
    await create('cli-sched', 'cli-report', QUEUE, CANARY.cliInput, 'cli-report');
    try {
      const { res, bytes } = await describeRaw('cli-sched');
      expectNoCanary(bytes, 'DescribeSchedule of the CLI schedule');
      expectActionSealedFor(res, 'cli-report', ['input', 'memo', 'userMetadata.summary']);
      await cli('schedule', 'trigger', '--schedule-id', 'cli-sched');
      const [id] = await runsOf('cli-sched', (r) => r.length >= 1);
      await expectRunCompletedSealed(id!, 'cli-report', `report for ${CANARY.cliMemo}: ${CANARY.cliInput}`, Object.values(CANARY));
    } finally {
      await cli('schedule', 'delete', '--schedule-id', 'cli-sched');
    }
  }, 150_000);

  it('without the header the CLI gets namespace-scoped payloads: refused by a default worker, run by one that opted in', async () => {
    await create('ns-sched', 'ns-report', QUEUE, CANARY.uiInput);
    await create('ns-sched-ui', 'ns-report-ui', UI_QUEUE, CANARY.uiInput);
    try {
      const { res } = await describeRaw('ns-sched');
      const input = res.schedule!.action!.startWorkflow!.input!.payloads![0]!;
      expect(Buffer.from(input.metadata!.encoding!).toString()).toBe('binary/encrypted');
      expect(input.metadata!['envelope-workflow-id']).toBeUndefined();

      await cli('schedule', 'trigger', '--schedule-id', 'ns-sched');
      await cli('schedule', 'trigger', '--schedule-id', 'ns-sched-ui');
      const [refused] = await runsOf('ns-sched', (r) => r.length >= 1);
      const [accepted] = await runsOf('ns-sched-ui', (r) => r.length >= 1);

      // The opted-in worker runs it.
      expect(await client.workflow.getHandle(accepted!).result()).toBe(`report for ${CANARY.cliMemo}: ${CANARY.uiInput}`);
      // The default worker fails its workflow task with SCOPE_MISMATCH (Temporal retries it) and the run stays open.
      const end = Date.now() + 60_000;
      let failure: string | undefined;
      while (failure === undefined && Date.now() < end) {
        const events = (await rawHistory(connection, NS, refused!)).events;
        failure = events.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes?.failure?.message ?? undefined;
        if (failure === undefined) await new Promise((r) => setTimeout(r, 500));
      }
      expect(failure).toMatch(/namespace-scoped payload rejected in workflow "ns-report-.*acceptNamespaceScoped is off/);
      // Raw: the client's own describe() would decode the memo in the run's context and refuse it too.
      const info = await connection.workflowService.describeWorkflowExecution({ namespace: NS, execution: { workflowId: refused! } });
      expect(info.workflowExecutionInfo?.status).toBe(proto.temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING);
      expect((await rawHistory(connection, NS, refused!)).events.some((e) => e.workflowExecutionCompletedEventAttributes)).toBe(false);
      await client.workflow.getHandle(refused!).terminate('test done');
    } finally {
      await cli('schedule', 'delete', '--schedule-id', 'ns-sched');
      await cli('schedule', 'delete', '--schedule-id', 'ns-sched-ui');
    }
  }, 150_000);
});
