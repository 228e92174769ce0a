import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { KeyringError } from '../primitives/errors.js';
import type { Scope } from '../primitives/scope.js';
import { isShreddableKeyId, kekIdOf } from './shreddable-provider.js';

/**
 * What `keys usage` found in Temporal history, and the rule `keys retire` applies to it.
 *
 * A KEK may be retired only when no history that Temporal still keeps holds a payload it wrapped.
 * The keyring cannot know that; a scan of the histories can. The scan summary is saved next to the
 * keyring (`keys usage --save`) and `keys retire` accepts it as evidence only if it is complete,
 * recent, started after every worker had stopped using the key, covered every workflow that could
 * contain the key, and counted zero payloads for it.
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
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(tmp, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  await fs.rename(tmp, file);
  return report;
}

export interface RetireEvidence {
  readonly keyId: string;
  /** When the key was created: a scan must cover every workflow open since then. */
  readonly created: string | undefined;
  /** When it stopped being primary; undefined if it still is (then it cannot be retired anyway). */
  readonly demotedAt: string | undefined;
}

export interface RetirePolicy {
  readonly now: Date;
  /** A scan older than this is stale: new workflows may have started since. */
  readonly maxReportAgeMs: number;
  /** Workers take up to their reload interval (plus KMS-outage grace) to stop using a demoted key. */
  readonly settleMs: number;
}

export type RetireVerdict = { readonly ok: true; readonly scans: number } | { readonly ok: false; readonly reasons: readonly string[] };

/** Whether the saved scans prove that no retained history holds a payload wrapped by the key. */
export function assessRetirement(report: UsageReport | undefined, key: RetireEvidence, policy: RetirePolicy): RetireVerdict {
  if (report === undefined || report.scans.length === 0) {
    return { ok: false, reasons: ['no usage report: run "temporal-envelope keys usage --save" for every namespace that uses this keyring'] };
  }
  const reasons: string[] = [];
  const now = policy.now.getTime();
  for (const scan of report.scans) {
    const where = `scan of namespace ${JSON.stringify(scan.namespace)} at ${scan.address} (${scan.finishedAt})`;
    const used = scan.byKey[key.keyId]?.payloads ?? 0;
    if (used > 0) reasons.push(`${where} found ${used} payload(s) wrapped by ${key.keyId}`);
    if (scan.failedExecutions > 0) reasons.push(`${where} is incomplete: ${scan.failedExecutions} history(ies) could not be read`);
    if (scan.until !== null) reasons.push(`${where} stopped at --until ${scan.until}; rescan without --until`);
    if (scan.since !== null && key.created !== undefined && Date.parse(scan.since) > Date.parse(key.created)) {
      reasons.push(`${where} started at --since ${scan.since}, after the key was created (${key.created}); rescan with an earlier --since or none`);
    }
    if (now - Date.parse(scan.finishedAt) > policy.maxReportAgeMs) {
      reasons.push(`${where} is older than ${Math.round(policy.maxReportAgeMs / 60_000)} min (--max-report-age)`);
    }
    if (key.demotedAt !== undefined && Date.parse(scan.startedAt) < Date.parse(key.demotedAt) + policy.settleMs) {
      reasons.push(
        `${where} started ${scan.startedAt}, before ${new Date(Date.parse(key.demotedAt) + policy.settleMs).toISOString()} ` +
          `(the key stopped being primary at ${key.demotedAt}, plus --settle): workers may still have sealed with it; rescan`,
      );
    }
  }
  return reasons.length === 0 ? { ok: true, scans: report.scans.length } : { ok: false, reasons };
}
