import type { UsageReport } from './usage-report.js';

/**
 * The rule `keys retire` applies to saved usage scans.
 *
 * A KEK may be retired only when no history that Temporal still keeps, and no schedule, holds a
 * payload it wrapped. The keyring cannot know that; a scan of the histories and schedules can. `keys retire` accepts the saved scans
 * as evidence only if they are complete, recent, started after every worker had stopped using the
 * key, covered every workflow that could contain the key, and counted zero payloads for it.
 */
export interface RetireEvidence {
  readonly keyId: string;
  /** When the key was created: a scan must cover every workflow open since then. */
  readonly created: string | undefined;
  /** When it stopped being primary; undefined if it still is (then it cannot be retired anyway). */
  readonly demotedAt: string | undefined;
  /**
   * A legacy (samples codec) key: its payloads are counted in the scans' `legacy` section, and
   * they may be older than anything we recorded, so only a scan of all retained history counts.
   */
  readonly legacy?: boolean | undefined;
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
    const used = (key.legacy ? scan.legacy?.[key.keyId] : scan.byKey[key.keyId])?.payloads ?? 0;
    if (used > 0) reasons.push(`${where} found ${used} payload(s) ${key.legacy ? 'sealed by the samples codec with legacy key' : 'wrapped by'} ${key.keyId}`);
    if (key.legacy && scan.legacy === undefined) reasons.push(`${where} predates counting legacy payloads; rescan`);
    if (key.legacy && scan.since !== null) reasons.push(`${where} started at --since ${scan.since}; legacy payloads may be older than anything recorded: rescan without --since`);
    if (scan.failedExecutions > 0) reasons.push(`${where} is incomplete: ${scan.failedExecutions} history(ies) could not be read`);
    // A schedule keeps its sealed action (input, memo, summary) for as long as it lives and hands
    // it to every future run: retiring a key one needs stops the schedule from ever working again.
    if (scan.schedules === undefined) {
      reasons.push(`${where} did not read the namespace's schedules (made by an older version); rescan`);
    } else {
      const held = scan.schedules.byKey[key.keyId];
      if (held !== undefined && held.payloads > 0) {
        const ids = held.schedules.slice(0, 10).map((id) => JSON.stringify(id)).join(', ') + (held.schedules.length > 10 ? `, … (${held.schedules.length} in all)` : '');
        reasons.push(`${where} found ${held.payloads} of them in schedule(s) ${ids}, which every future run needs: "temporal-envelope keys reseal-schedules" re-seals them under the primary`);
      }
      if (scan.schedules.failed > 0) reasons.push(`${where} is incomplete: ${scan.schedules.failed} schedule(s) could not be read`);
    }
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
