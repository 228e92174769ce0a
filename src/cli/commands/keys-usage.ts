import { Option, type Command } from 'commander';
import { defaultReportPath, saveUsageScan, type SchedulePayloads, type ScopeUsage, type UsageScan } from '../../../keys/admin/usage-report.js';
import { UsageError } from '../errors.js';
import { formatTable, printJson, printLine, warn, type CliIo } from '../io.js';
import { addJsonOption, addKeySourceOptions, addTemporalOptions, keySourceFrom, temporalOptionsFrom } from '../options.js';
import { parseInstant, parsePositiveInt } from '../parse.js';
import { keyFileOf, listKeyInfo, listLegacyKeyInfo, type KeyInfo } from '../key-info.js';

/** `keys usage`: how many retained payloads each KEK still wraps, so an operator knows what can be retired. */
export function registerKeysUsage(keys: Command, io: CliIo): void {
  const cmd = keys
    .command('usage')
    .description("walk a namespace's workflow histories and schedules and count payloads per key version, per scope and per schedule")
    .addOption(new Option('--since <time>', 'only workflows open at or after this time (ISO-8601, or a duration ago: 7d)').argParser((v) => parseInstant(v)))
    .addOption(new Option('--until <time>', 'only workflows started at or before this time').argParser((v) => parseInstant(v)))
    .option('--query <visibility-query>', 'extra visibility query, ANDed with --since/--until (e.g. "WorkflowType = \'Order\'")')
    .addOption(new Option('--concurrency <n>', 'histories fetched at once').argParser(parsePositiveInt).default(4))
    .option('--by-scope', 'also list counts per namespace/workflow scope and per schedule')
    .option('--save [path]', 'save the summary as evidence for "keys retire" (default: <keyring or key config>.usage.json)')
    .option('--no-progress', 'no progress bar (it is off anyway when stderr is not a terminal or with --json)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  temporal-envelope keys usage --address 127.0.0.1:7233 --namespace default --save\n' +
        '  temporal-envelope keys usage --since 30d --by-scope --json\n' +
        '\nTLS and API-key options are named (and read from TEMPORAL_* variables) as the temporal CLI does.',
    );
  addJsonOption(addKeySourceOptions(addTemporalOptions(cmd), { shredStore: false })).action(async (opts: Record<string, unknown>) => {
    const source = keySourceFrom(opts);
    const connection = temporalOptionsFrom(opts);
    const since = opts.since as Date | undefined;
    const until = opts.until as Date | undefined;
    if (since !== undefined && until !== undefined && since > until) throw new UsageError('--since is after --until');

    const showProgress = opts.progress !== false && opts.json !== true && io.stderr.isTTY === true;
    const progress = showProgress ? await makeProgressBar(io) : undefined;
    let failures = 0;
    const { scan, byScope, bySchedule } = await (async () => {
      const { scanUsage } = await import('../usage/scan.js');
      try {
        return await scanUsage({
          connection,
          since,
          until,
          query: opts.query as string | undefined,
          concurrency: opts.concurrency as number,
          onTotal: (total) => progress?.start(total, 0),
          onProgress: (done) => progress?.update(done),
          onExecutionError: (workflowId, runId, err) => {
            failures += 1;
            if (failures <= 5) warn(io, `history of ${workflowId} (run ${runId}) could not be read: ${err.message}`);
          },
          onScheduleError: (scheduleId, err) => {
            failures += 1;
            if (failures <= 5) warn(io, `schedule ${scheduleId} could not be read: ${err.message}`);
          },
        });
      } finally {
        progress?.stop();
      }
    })();
    if (failures > 5) warn(io, `${failures - 5} more histories or schedules could not be read`);

    // Known keys give the table its STATE column and show keys with no payloads at all; a scan
    // needs no keyring, so a missing one only costs that column.
    let known: KeyInfo[] = [];
    try {
      known = await listKeyInfo(source);
    } catch {
      known = [];
    }
    let knownLegacy: KeyInfo[] = [];
    try {
      knownLegacy = await listLegacyKeyInfo(source);
    } catch {
      knownLegacy = [];
    }
    let savedTo: string | undefined;
    if (opts.save !== undefined && opts.save !== false) {
      savedTo = typeof opts.save === 'string' ? opts.save : defaultReportPath(keyFileOf(source));
      await saveUsageScan(savedTo, scan);
    }
    const keys = keyRows(scan, known);
    const legacy = legacyRows(scan, knownLegacy);
    if (opts.json) {
      printJson(io, { scan, keys, legacyKeys: legacy, ...(opts.byScope ? { byScope, bySchedule } : {}), savedTo: savedTo ?? null });
    } else {
      printSummary(io, scan, keys, opts.byScope === true ? { byScope, bySchedule } : undefined);
      printLegacy(io, legacy);
      if (savedTo !== undefined) printLine(io, `\nSaved to ${savedTo} (evidence for "temporal-envelope keys retire").`);
    }
    if (scan.failedExecutions > 0) {
      warn(io, `${scan.failedExecutions} of ${scan.executions} histories could not be read: this scan is incomplete and "keys retire" will not accept it`);
    }
    const failedSchedules = scan.schedules?.failed ?? 0;
    if (failedSchedules > 0) {
      warn(io, `${failedSchedules} schedule(s) could not be read: this scan is incomplete and "keys retire" will not accept it`);
    }
  });
}

interface KeyRow {
  id: string;
  state: string;
  payloads: number;
  scopes: number;
  shreddable: number;
  v2: number;
  branchKeys: number;
  /** Schedules holding payloads under this key (a subset of `payloads` is theirs). */
  schedules: number;
}

function keyRows(scan: UsageScan, known: readonly KeyInfo[]): KeyRow[] {
  const rows: KeyRow[] = [];
  const seen = new Set<string>();
  const schedules = (id: string) => scan.schedules?.byKey[id]?.schedules.length ?? 0;
  for (const k of known) {
    const u = scan.byKey[k.id];
    rows.push({ id: k.id, state: k.state, ...counts(u), schedules: schedules(k.id) });
    seen.add(k.id);
  }
  for (const [id, u] of Object.entries(scan.byKey)) {
    // In history but not in this keyring: no configured key opens these payloads.
    if (!seen.has(id)) rows.push({ id, state: 'not in keyring', ...counts(u), schedules: schedules(id) });
  }
  return rows;
}

function counts(u: UsageScan['byKey'][string] | undefined): Omit<KeyRow, 'id' | 'state' | 'schedules'> {
  return { payloads: u?.payloads ?? 0, scopes: u?.scopes ?? 0, shreddable: u?.shreddable ?? 0, v2: u?.v2 ?? 0, branchKeys: u?.branchKeys ?? 0 };
}


interface LegacyRow {
  id: string;
  state: string;
  payloads: number;
}

/** Payloads the Temporal samples' codec sealed, per legacy key: known ones first, then ids no legacy key file holds. */
function legacyRows(scan: UsageScan, known: readonly KeyInfo[]): LegacyRow[] {
  const found = scan.legacy ?? {};
  const rows: LegacyRow[] = known.map((k) => ({ id: k.id, state: k.state, payloads: found[k.id]?.payloads ?? 0 }));
  for (const [id, u] of Object.entries(found)) if (!known.some((k) => k.id === id)) rows.push({ id, state: 'not in legacy key file', payloads: u.payloads });
  return rows;
}

function printLegacy(io: CliIo, rows: readonly LegacyRow[]): void {
  if (rows.length === 0) return;
  printLine(io, '\nPayloads in the Temporal samples codec format (legacy keys, decrypt-only):');
  printLine(io, formatTable(['LEGACY KEY ID', 'STATE', 'PAYLOADS'], rows.map((r) => [r.id, r.state, String(r.payloads)])));
  const idle = rows.filter((r) => r.payloads === 0 && r.state === 'decrypt-only');
  if (idle.length > 0) printLine(io, `\nNo retained payload uses legacy key(s): ${idle.map((r) => r.id).join(', ')} (candidates for "keys retire").`);
}

function printSummary(io: CliIo, scan: UsageScan, keys: readonly KeyRow[], detail: { byScope: readonly ScopeUsage[]; bySchedule: readonly SchedulePayloads[] } | undefined): void {
  const window = scan.since === null && scan.until === null ? 'all retained workflows' : `workflows open ${scan.since === null ? '' : `since ${scan.since} `}${scan.until === null ? '' : `started until ${scan.until}`}`.trim();
  printLine(io, `Namespace ${JSON.stringify(scan.namespace)} at ${scan.address}: ${window}, and every schedule.`);
  printLine(
    io,
    `Scanned ${scan.executions} workflow execution(s) and ${scan.schedules?.scanned ?? 0} schedule(s): ${scan.payloads} payload(s), ${scan.unencrypted} not encrypted by temporal-envelope.`,
  );
  printLine(io);
  printLine(
    io,
    formatTable(
      ['KEY ID', 'STATE', 'PAYLOADS', 'SCOPES', 'SCHEDULES', 'SHREDDABLE', 'V2', 'BRANCH KEYS'],
      keys.map((k) => [k.id, k.state, String(k.payloads), String(k.scopes), String(k.schedules), String(k.shreddable), String(k.v2), String(k.branchKeys)]),
    ),
  );
  const idle = keys.filter((k) => k.payloads === 0 && k.state === 'decrypt-only');
  if (idle.length > 0) printLine(io, `\nNo retained payload uses: ${idle.map((k) => k.id).join(', ')} (candidates for "keys retire").`);
  const heldBySchedules = keys.filter((k) => k.schedules > 0 && k.state !== 'primary');
  if (heldBySchedules.length > 0) {
    printLine(io, `\nSchedules hold payloads under ${heldBySchedules.map((k) => k.id).join(', ')}: "temporal-envelope keys reseal-schedules" re-seals them under the primary.`);
  }
  if (detail !== undefined) {
    printLine(io);
    printLine(
      io,
      formatTable(
        ['NAMESPACE', 'WORKFLOW ID', 'KEY ID', 'PAYLOADS'],
        detail.byScope.map((s) => [s.namespace, s.workflowId ?? '(namespace scope)', s.keyId, String(s.payloads)]),
      ),
    );
    if (detail.bySchedule.length > 0) {
      printLine(io);
      printLine(io, formatTable(['SCHEDULE', 'KEY ID', 'PAYLOADS'], detail.bySchedule.map((s) => [s.scheduleId, s.keyId, String(s.payloads)])));
    }
  }
}

async function makeProgressBar(io: CliIo) {
  const { default: cliProgress } = await import('cli-progress');
  return new cliProgress.SingleBar(
    { stream: io.stderr, format: 'histories [{bar}] {value}/{total} {percentage}% eta {eta_formatted}', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
}
