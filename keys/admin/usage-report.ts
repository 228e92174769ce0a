import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { z } from 'zod';
import { KeyringError } from '../../primitives/errors.js';
import { writeFileAtomic } from '../../primitives/files.js';
import type { Scope } from '../../primitives/scope.js';
import { isoTime, parseKeyFile } from '../file-schema.js';
import { isShreddableKeyId, kekIdOf } from '../shreddable-provider.js';

/**
 * What `keys usage` found in Temporal history: payloads counted per KEK (format version 2's also
 * per branch key) and per scope, and the
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
  /**
   * Of `payloads`, how many are format version 2 (branch keys), and how many distinct branch keys
   * this KEK wrapped for them (one per writer process, namespace and branch-key lifetime). Absent
   * in reports saved before version 2: read as 0.
   */
  v2: count.optional(),
  branchKeys: count.optional(),
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

/** Counts payloads per KEK, per branch key and per scope while histories are walked. */
export class UsageTally {
  payloads = 0;
  unencrypted = 0;
  private readonly keys = new Map<string, { payloads: number; shreddable: number; v2: number; scopes: Set<string>; branchKeys: Set<string> }>();
  private readonly scopes = new Map<string, ScopeUsage>();

  add(found: FoundPayload | undefined): void {
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
