import { promises as fs } from 'node:fs';
import { z } from 'zod';
import { KeyringError } from '../../primitives/errors.js';
import { writeFileAtomic } from '../../primitives/files.js';
import type { Scope } from '../../primitives/scope.js';
import { isoTime, parseKeyFile } from '../file-schema.js';
import { isShreddableKeyId, kekIdOf } from '../shreddable-provider.js';

/**
 * What `keys usage` found in Temporal history: payloads counted per KEK and per scope, and the
 * report file (`keys usage --save`) that keeps the scans as evidence for `keys retire`
 * (./retire-rules.ts).
 */
export const USAGE_REPORT_FORMAT = 'temporal-envelope-usage/v1';

const count = z.number().int().min(0);

const keyUsageSchema = z.looseObject({
  payloads: count,
  /** Distinct scopes (workflows, or namespace scopes) with at least one payload under this KEK. */
  scopes: count,
  /** Of `payloads`, how many were sealed through the shreddable provider. */
  shreddable: count,
});
export type KeyUsage = z.infer<typeof keyUsageSchema>;

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
  /** Every payload found in the histories. */
  payloads: count,
  /** Payloads without our envelope (plain, search attributes, headers, other codecs). */
  unencrypted: count,
  byKey: z.record(z.string(), keyUsageSchema),
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

export interface ScopeUsage {
  readonly namespace: string;
  readonly workflowId?: string | undefined;
  readonly keyId: string;
  payloads: number;
}

/** Counts payloads per KEK and per scope while histories are walked. */
export class UsageTally {
  payloads = 0;
  unencrypted = 0;
  private readonly keys = new Map<string, { payloads: number; shreddable: number; scopes: Set<string> }>();
  private readonly scopes = new Map<string, ScopeUsage>();
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

  add(found: { keyId: string; scope: Scope } | undefined): void {
    this.payloads += 1;
    if (found === undefined) {
      this.unencrypted += 1;
      return;
    }
    const kek = kekIdOf(found.keyId);
    const scopeId = JSON.stringify([found.scope.namespace, found.scope.workflowId ?? null]);
    let k = this.keys.get(kek);
    if (k === undefined) {
      k = { payloads: 0, shreddable: 0, scopes: new Set() };
      this.keys.set(kek, k);
    }
    k.payloads += 1;
    if (isShreddableKeyId(found.keyId)) k.shreddable += 1;
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
      out[id] = { payloads: k.payloads, scopes: k.scopes.size, shreddable: k.shreddable };
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
