import { promises as fs } from 'node:fs';
import { KeyringError } from '../../primitives/errors.js';
import { writeFileAtomic } from '../../primitives/files.js';
import type { Scope } from '../../primitives/scope.js';
import { isShreddableKeyId, kekIdOf } from '../shreddable-provider.js';

/**
 * What `keys usage` found in Temporal history: payloads counted per KEK and per scope, and the
 * report file (`keys usage --save`) that keeps the scans as evidence for `keys retire`
 * (./retire-rules.ts).
 */
export const USAGE_REPORT_FORMAT = 'temporal-envelope-usage/v1';

export interface KeyUsage {
  payloads: number;
  /** Distinct scopes (workflows, or namespace scopes) with at least one payload under this KEK. */
  scopes: number;
  /** Of `payloads`, how many were sealed through the shreddable provider. */
  shreddable: number;
}

export interface ScopeUsage {
  readonly namespace: string;
  readonly workflowId?: string | undefined;
  readonly keyId: string;
  payloads: number;
}

export interface UsageScan {
  address: string;
  namespace: string;
  query: string;
  /** Workflows open at or after this instant were scanned; null: all that visibility keeps. */
  since: string | null;
  until: string | null;
  startedAt: string;
  finishedAt: string;
  /** Workflow executions (runs) whose history was read. */
  executions: number;
  /** Histories that could not be read: a scan with any is incomplete and proves nothing. */
  failedExecutions: number;
  /** Every payload found in the histories. */
  payloads: number;
  /** Payloads without our envelope (plain, search attributes, headers, other codecs). */
  unencrypted: number;
  byKey: Record<string, KeyUsage>;
}

export interface UsageReport {
  format: typeof USAGE_REPORT_FORMAT;
  scans: UsageScan[];
}

/** Counts payloads per KEK and per scope while histories are walked. */
export class UsageTally {
  payloads = 0;
  unencrypted = 0;
  private readonly keys = new Map<string, { payloads: number; shreddable: number; scopes: Set<string> }>();
  private readonly scopes = new Map<string, ScopeUsage>();

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
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new KeyringError(`usage report ${file} is not valid JSON`);
  }
  const d = doc as Partial<UsageReport>;
  if (d.format !== USAGE_REPORT_FORMAT || !Array.isArray(d.scans)) {
    throw new KeyringError(`usage report ${file}: "format" expected ${JSON.stringify(USAGE_REPORT_FORMAT)} with a "scans" array`);
  }
  return d as UsageReport;
}

/** Add a scan, replacing an earlier scan of the same address and namespace. */
export async function saveUsageScan(file: string, scan: UsageScan): Promise<UsageReport> {
  const report = (await readUsageReport(file)) ?? { format: USAGE_REPORT_FORMAT, scans: [] };
  report.scans = report.scans.filter((s) => !(s.address === scan.address && s.namespace === scan.namespace));
  report.scans.push(scan);
  await writeFileAtomic(file, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}
