import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { z } from 'zod';
import { KeyringError } from '../../primitives/errors.js';
import { writeFileAtomic } from '../../primitives/files.js';
import type { Scope } from '../../primitives/scope.js';
import { isoTime, parseKeyFile } from '../file-schema.js';
import { isShreddableKeyId, kekIdOf } from '../shreddable-provider.js';

/**
 * What `keys usage` found in Temporal history and in the namespace's schedules: payloads counted per
 * KEK (format version 2's also per branch key), per scope and per schedule, and the report file
 * (`keys usage --save`) that keeps the scans as evidence for `keys retire` (./retire-rules.ts).
 */
export const USAGE_REPORT_FORMAT = 'temporal-envelope-usage/v1';

const count = z.number().int().min(0);

const keyUsageSchema = z.looseObject({
  payloads: count,
  /** Distinct scopes (workflows, or namespace scopes) with at least one payload under this KEK. */
  scopes: count,
  /** Of `payloads`, how many were sealed through the shreddable provider. */
  shreddable: count,
  /**
   * Of `payloads`, how many are format version 2 (branch keys), and how many distinct branch keys
   * this KEK wrapped for them (one per writer process, namespace and branch-key lifetime). Absent
   * in reports saved before version 2: read as 0.
   */
  v2: count.optional(),
  branchKeys: count.optional(),
});
export type KeyUsage = z.infer<typeof keyUsageSchema>;

const scheduleUsageSchema = z.looseObject({
  /** Schedules whose stored action and memo were read (DescribeSchedule). */
  scanned: count,
  /** Schedules that could not be read: a scan with any is incomplete and proves nothing. */
  failed: count,
  /** Payloads found in schedules (also counted in the scan's `payloads` and `byKey`). */
  payloads: count,
  unencrypted: count,
  /** Per KEK: payloads in schedules, and the ids of the schedules that hold them. */
  byKey: z.record(z.string(), z.looseObject({ payloads: count, schedules: z.array(z.string()) })),
});
export type ScheduleUsage = z.infer<typeof scheduleUsageSchema>;

const usageScanSchema = z.looseObject({
  address: z.string(),
  namespace: z.string(),
  query: z.string(),
  /** Workflows open at or after this instant were scanned; null: all that visibility keeps. */
  since: isoTime.nullable(),
  until: isoTime.nullable(),
  startedAt: isoTime,
  finishedAt: isoTime,
  /** Workflow executions (runs) whose history was read. */
  executions: count,
  /** Histories that could not be read: a scan with any is incomplete and proves nothing. */
  failedExecutions: count,
  /** Every payload found in the histories and the schedules. */
  payloads: count,
  /** Payloads without our envelope (plain, search attributes, headers, other codecs). */
  unencrypted: count,
  byKey: z.record(z.string(), keyUsageSchema),
  /**
   * What the namespace's schedules store: each holds its action's input, memo, header and summary,
   * sealed, for every future run. Absent in scans made before schedules were scanned, which
   * `keys retire` therefore does not accept.
   */
  schedules: scheduleUsageSchema.optional(),
  /**
   * Payloads in the Temporal samples' codec format, per `encryption-key-id` (legacy keys). Absent
   * in scans made before they were counted: such a scan proves nothing about a legacy key.
   */
  legacy: z.record(z.string(), z.looseObject({ payloads: count })).optional(),
});
export type UsageScan = z.infer<typeof usageScanSchema>;

const usageReportSchema = z.looseObject({
  format: z.literal(USAGE_REPORT_FORMAT),
  scans: z.array(usageScanSchema),
});
export type UsageReport = z.infer<typeof usageReportSchema>;

/** One payload as the scan saw its header (primitives/format-versions.ts peekSealed), or undefined for a payload not in our format. */
export interface FoundPayload {
  readonly keyId: string;
  readonly scope: Scope;
  /** Version 2 only: the wrapped branch key, counted by its SHA-256 (the bytes are not kept). */
  readonly wrappedBranchKey?: Uint8Array | undefined;
}

export interface ScopeUsage {
  readonly namespace: string;
  readonly workflowId?: string | undefined;
  readonly keyId: string;
  payloads: number;
}

/** Payloads of one schedule under one KEK (`keys usage --by-scope`). */
export interface SchedulePayloads {
  readonly scheduleId: string;
  readonly keyId: string;
  payloads: number;
}

type Found = FoundPayload | undefined;

/** Counts payloads per KEK, per branch key and per scope while histories and schedules are walked. */
export class UsageTally {
  payloads = 0;
  unencrypted = 0;
  private readonly keys = new Map<string, { payloads: number; shreddable: number; v2: number; scopes: Set<string>; branchKeys: Set<string> }>();
  private readonly scopes = new Map<string, ScopeUsage>();
  private readonly schedules = { scanned: 0, failed: 0, payloads: 0, unencrypted: 0, byKey: new Map<string, Map<string, number>>() };

  private readonly legacyKeys = new Map<string, number>();

  /** A payload in the samples' codec format, under legacy key `keyId`. */
  addLegacy(keyId: string): void {
    this.payloads += 1;
    this.legacyKeys.set(keyId, (this.legacyKeys.get(keyId) ?? 0) + 1);
  }

  legacy(): Record<string, { payloads: number }> {
    const out: Record<string, { payloads: number }> = {};
    for (const [id, payloads] of [...this.legacyKeys].sort(([a], [b]) => a.localeCompare(b))) out[id] = { payloads };
    return out;
  }

  /** Every payload of one schedule (a schedule that could not be read: `scheduleFailed`). */
  addSchedule(scheduleId: string, found: readonly Found[]): void {
    this.schedules.scanned += 1;
    for (const f of found) {
      this.add(f);
      this.schedules.payloads += 1;
      if (f === undefined) {
        this.schedules.unencrypted += 1;
        continue;
      }
      const kek = kekIdOf(f.keyId);
      const ids = this.schedules.byKey.get(kek) ?? new Map<string, number>();
      ids.set(scheduleId, (ids.get(scheduleId) ?? 0) + 1);
      this.schedules.byKey.set(kek, ids);
    }
  }

  scheduleFailed(): void {
    this.schedules.failed += 1;
  }

  scheduleUsage(): ScheduleUsage {
    const byKey: ScheduleUsage['byKey'] = {};
    for (const [kek, ids] of [...this.schedules.byKey].sort(([a], [b]) => a.localeCompare(b))) {
      byKey[kek] = { payloads: [...ids.values()].reduce((a, b) => a + b, 0), schedules: [...ids.keys()].sort() };
    }
    const { scanned, failed, payloads, unencrypted } = this.schedules;
    return { scanned, failed, payloads, unencrypted, byKey };
  }

  bySchedule(): SchedulePayloads[] {
    const out: SchedulePayloads[] = [];
    for (const [keyId, ids] of this.schedules.byKey) for (const [scheduleId, payloads] of ids) out.push({ scheduleId, keyId, payloads });
    return out.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId) || a.keyId.localeCompare(b.keyId));
  }

  add(found: Found): void {
    this.payloads += 1;
    if (found === undefined) {
      this.unencrypted += 1;
      return;
    }
    const kek = kekIdOf(found.keyId);
    const scopeId = JSON.stringify([found.scope.namespace, found.scope.workflowId ?? null]);
    let k = this.keys.get(kek);
    if (k === undefined) {
      k = { payloads: 0, shreddable: 0, v2: 0, scopes: new Set(), branchKeys: new Set() };
      this.keys.set(kek, k);
    }
    k.payloads += 1;
    if (isShreddableKeyId(found.keyId)) k.shreddable += 1;
    if (found.wrappedBranchKey !== undefined) {
      k.v2 += 1;
      k.branchKeys.add(createHash('sha256').update(found.wrappedBranchKey).digest('base64'));
    }
    k.scopes.add(scopeId);
    const sk = `${scopeId}|${kek}`;
    const s = this.scopes.get(sk);
    if (s === undefined) {
      this.scopes.set(sk, { namespace: found.scope.namespace, workflowId: found.scope.workflowId, keyId: kek, payloads: 1 });
    } else {
      s.payloads += 1;
    }
  }

  byKey(): Record<string, KeyUsage> {
    const out: Record<string, KeyUsage> = {};
    for (const [id, k] of [...this.keys].sort(([a], [b]) => a.localeCompare(b))) {
      out[id] = { payloads: k.payloads, scopes: k.scopes.size, shreddable: k.shreddable, v2: k.v2, branchKeys: k.branchKeys.size };
    }
    return out;
  }

  byScope(): ScopeUsage[] {
    return [...this.scopes.values()].sort(
      (a, b) => a.namespace.localeCompare(b.namespace) || (a.workflowId ?? '').localeCompare(b.workflowId ?? '') || a.keyId.localeCompare(b.keyId),
    );
  }
}

/** Default report file: beside the keyring (or AWS key config) it is evidence for. */
export function defaultReportPath(keyFile: string): string {
  return `${keyFile}.usage.json`;
}

export async function readUsageReport(file: string): Promise<UsageReport | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KeyringError(`usage report ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  return parseKeyFile(usageReportSchema, text, `usage report ${file}`);
}

/** Add a scan, replacing an earlier scan of the same address and namespace. */
export async function saveUsageScan(file: string, scan: UsageScan): Promise<UsageReport> {
  const report = (await readUsageReport(file)) ?? { format: USAGE_REPORT_FORMAT, scans: [] };
  report.scans = report.scans.filter((s) => !(s.address === scan.address && s.namespace === scan.namespace));
  report.scans.push(scan);
  await writeFileAtomic(file, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}
