import { randomUUID } from 'node:crypto';
import type { Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import type { EnvelopeCodec } from '../../../codecs/envelope-codec.js';
import { peekScope } from '../../../primitives/format-versions.js';
import { kekIdOf } from '../../../keys/shreddable-provider.js';
import { forEachPayload } from './history-payloads.js';
import { describeSchedule, listScheduleIds, type DescribedSchedule } from './schedules.js';

type WorkflowService = Connection['workflowService'];

/**
 * Re-seal what schedules store under the current primary KEK, so an old KEK can be retired without
 * recreating schedules: each payload of ours under another KEK is opened and sealed again in the
 * same scope, and the schedule is written back with UpdateSchedule (and the conflict token of the
 * DescribeSchedule it came from), everything else exactly as the server described it.
 *
 * The schedule's own memo is replaced only where the server supports memo updates: Temporal
 * Server 1.32 answers FAILED_PRECONDITION ("memo updates are not supported on workflow-backed
 * schedules"), and then the action is re-sealed and the memo reported as left under its old key.
 * Runs never read that memo; it is lost to whoever describes the schedule once its key is retired.
 */
export interface ResealOptions {
  readonly service: WorkflowService;
  readonly namespace: string;
  readonly codec: EnvelopeCodec;
  /** The KEK new payloads are wrapped with: payloads under it are left alone. */
  readonly primaryKekId: string;
  readonly dryRun: boolean;
  /** Only these schedules; undefined: every schedule of the namespace. */
  readonly scheduleIds?: readonly string[] | undefined;
  readonly identity: string;
  readonly onProgress?: (outcome: ScheduleReseal) => void;
}

export interface ScheduleReseal {
  readonly scheduleId: string;
  /**
   * `current`: nothing under another KEK. `would-reseal` (--dry-run), `resealed`: all re-sealed.
   * `memo-left`: the action was re-sealed, the schedule's own memo could not be. `failed`: nothing
   * was changed (`error` says why).
   */
  readonly outcome: 'current' | 'would-reseal' | 'resealed' | 'memo-left' | 'failed';
  /** Payloads of ours in the schedule, and how many of them were (or would be) re-sealed. */
  readonly payloads: number;
  readonly stale: number;
  readonly resealed: number;
  /** The KEKs the stale payloads were under, with counts. */
  readonly fromKeys: Readonly<Record<string, number>>;
  readonly error?: string | undefined;
}

interface Stale {
  readonly payload: Payload;
  readonly kek: string;
  readonly inMemo: boolean;
}

const MAX_CONFLICT_RETRIES = 3;

export async function resealSchedules(options: ResealOptions): Promise<ScheduleReseal[]> {
  // Sorted, so a report reads the same from run to run (the listing's order is the server's).
  const ids = options.scheduleIds ?? (await collect(listScheduleIds(options.service, options.namespace))).sort();
  const out: ScheduleReseal[] = [];
  for (const scheduleId of ids) {
    const outcome = await resealOne(options, scheduleId);
    options.onProgress?.(outcome);
    out.push(outcome);
  }
  return out;
}

async function resealOne(options: ResealOptions, scheduleId: string): Promise<ScheduleReseal> {
  for (let attempt = 1; ; attempt++) {
    let described: DescribedSchedule;
    try {
      described = await describeSchedule(options.service, options.namespace, scheduleId);
    } catch (err) {
      return failed(scheduleId, 0, [], `cannot be read: ${(err as Error).message}`);
    }
    const { mine, stale } = staleOf(described, options.primaryKekId);
    const fromKeys: Record<string, number> = {};
    for (const s of stale) fromKeys[s.kek] = (fromKeys[s.kek] ?? 0) + 1;
    const base = { scheduleId, payloads: mine, stale: stale.length, fromKeys };
    if (stale.length === 0) return { ...base, outcome: 'current', resealed: 0 };
    if (options.dryRun) return { ...base, outcome: 'would-reseal', resealed: stale.length };

    // Open and re-seal everything first: a payload that cannot be opened (its key already retired,
    // KMS down) leaves the schedule untouched rather than half re-sealed.
    try {
      for (const s of stale) {
        const scope = peekScope(s.payload)!.scope;
        const [opened] = await options.codec.decodeDetailed([s.payload]);
        if (opened!.status !== 'decoded') throw opened!.error ?? new Error('payload did not open');
        const [sealed] = await options.codec.encodeInScope([opened!.payload], scope);
        // In place: the described schedule is what is written back, byte for byte but for these.
        s.payload.metadata = sealed!.metadata;
        s.payload.data = sealed!.data;
      }
    } catch (err) {
      return failed(scheduleId, mine, stale, `a payload did not re-seal, nothing was changed: ${(err as Error).message}`, fromKeys);
    }

    const memoStale = stale.filter((s) => s.inMemo).length;
    const update = (withMemo: boolean) =>
      options.service.updateSchedule({
        namespace: options.namespace,
        scheduleId,
        schedule: described.schedule,
        conflictToken: described.conflictToken,
        identity: options.identity,
        requestId: randomUUID(),
        ...(withMemo ? { memo: described.memo } : {}),
      });
    try {
      try {
        await update(memoStale > 0);
      } catch (err) {
        if (!(memoStale > 0 && isMemoUnsupported(err))) throw err;
        if (memoStale === stale.length) return { ...base, outcome: 'memo-left', resealed: 0, error: memoUnsupported(err) };
        await update(false);
        return { ...base, outcome: 'memo-left', resealed: stale.length - memoStale, error: memoUnsupported(err) };
      }
    } catch (err) {
      // Changed since we described it: describe again and start over, a few times.
      if (isConflict(err) && attempt < MAX_CONFLICT_RETRIES) continue;
      return failed(scheduleId, mine, stale, `UpdateSchedule failed: ${(err as Error).message}`, fromKeys);
    }
    return { ...base, outcome: 'resealed', resealed: stale.length };
  }
}

/** Our payloads in a schedule, and those under another KEK than the primary. */
function staleOf(described: DescribedSchedule, primaryKekId: string): { mine: number; stale: Stale[] } {
  let mine = 0;
  const stale: Stale[] = [];
  const visit = (inMemo: boolean) => (payload: Payload) => {
    const found = peekScope(payload);
    if (found === undefined) return;
    mine++;
    const kek = kekIdOf(found.keyId);
    if (kek !== primaryKekId) stale.push({ payload, kek, inMemo });
  };
  // The action (input, memo, header, summary and details) and the schedule's own memo; search
  // attributes are never ours.
  forEachPayload(described.schedule, visit(false));
  forEachPayload(described.memo, visit(true));
  return { mine, stale };
}

function failed(scheduleId: string, payloads: number, stale: readonly Stale[], error: string, fromKeys: Record<string, number> = {}): ScheduleReseal {
  return { scheduleId, outcome: 'failed', payloads, stale: stale.length, resealed: 0, fromKeys, error };
}

// gRPC FAILED_PRECONDITION: the server's answer both to a stale conflict token and to a memo update
// it does not support; the message tells them apart.
function isMemoUnsupported(err: unknown): boolean {
  return (err as { code?: unknown }).code === 9 && /memo/i.test((err as Error).message ?? '');
}

function memoUnsupported(err: unknown): string {
  return `the schedule's own memo stays under its old key: this Temporal server refused to update it (${(err as { details?: string }).details ?? (err as Error).message}); runs do not read it, describing the schedule does`;
}

function isConflict(err: unknown): boolean {
  return (err as { code?: unknown }).code === 9 && /conflict/i.test((err as Error).message ?? '');
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
