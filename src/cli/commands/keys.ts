import { Option, type Command } from 'commander';
import { KeyringError } from '../../../primitives/errors.js';
import { retireLegacyKey } from '../../../keys/admin/legacy-keys.js';
import { demotedAt, initLocalKeyring, retireLocalKey, rotateLocalKeyring } from '../../../keys/admin/rotation.js';
import { assessRetirement } from '../../../keys/admin/retire-rules.js';
import { defaultReportPath, readUsageReport } from '../../../keys/admin/usage-report.js';
import { confirmIrreversible } from '../confirm.js';
import { OperationError, UsageError } from '../errors.js';
import { formatTable, printJson, printLine, type CliIo } from '../io.js';
import { keyFileOf, legacyKeyInfo, legacyKeysPathOf, listKeyInfo, listLegacyKeyInfo, localKeyInfo, type KeyInfo } from '../key-info.js';
import { addJsonOption, addKeySourceOptions, keySourceFrom } from '../options.js';
import { parseDuration } from '../parse.js';
import { registerKeysResealSchedules } from './keys-schedules.js';
import { registerKeysImportLegacy } from './keys-import-legacy.js';
import { registerKeysShred } from './keys-shred.js';
import { registerKeysStore } from './keys-store.js';
import { registerKeysUsage } from './keys-usage.js';

/** `temporal-envelope keys …`: create, inspect, rotate and retire key-encryption keys. */
export function registerKeys(program: Command, io: CliIo): void {
  const keys = program
    .command('keys')
    .description('manage key-encryption keys (KEKs): init, list, show, rotate, retire, usage, reseal-schedules, shred, store init, import-legacy')
    .addHelpText('after', '\nRun "temporal-envelope keys <command> --help" for the options of each command.');

  addJsonOption(
    addKeySourceOptions(
      keys
        .command('init')
        .description('create a new keyring with one primary key (local), or a key config naming a KMS key (aws-kms)')
        .option('--kms-key <arn|alias>', 'the KMS key to start with (aws-kms)'),
      { shredStore: false },
    ),
  ).action(async (opts: Record<string, unknown>) => {
    const source = keySourceFrom(opts);
    if (source.provider === 'aws-kms') {
      const { initAwsKeyConfig } = await import('../aws-kms.js');
      const info = await initAwsKeyConfig(source, opts.kmsKey as string | undefined);
      if (opts.json) printJson(io, { keyConfig: source.keyConfig, key: info });
      else printLine(io, `Created key config ${source.keyConfig} with primary KMS key ${info.id}.`);
      return;
    }
    const entry = await initLocalKeyring(source.keyring);
    if (opts.json) printJson(io, { keyring: source.keyring, key: localKeyInfo(entry, undefined) });
    else {
      printLine(io, `Created keyring ${source.keyring} (mode 0600) with primary key ${entry.id}.`);
      printLine(io, 'Keep a backup of this file somewhere safe: without it no payload sealed with these keys can be read.');
    }
  });

  addJsonOption(addKeySourceOptions(keys.command('list').description('list key versions: id, created, state, provider (legacy samples-codec keys too)'), { shredStore: false })).action(
    async (opts: Record<string, unknown>) => {
      const source = keySourceFrom(opts);
      const rows = [...(await listKeyInfo(source)), ...(await listLegacyKeyInfo(source))];
      if (opts.json) {
        printJson(io, { keys: rows });
        return;
      }
      printLine(
        io,
        formatTable(
          ['ID', 'VERSION', 'STATE', 'CREATED', 'PROVIDER'],
          rows.map((r) => [r.id, r.version === undefined ? '-' : String(r.version), r.state + (r.destroyed ? ' (destroyed)' : ''), r.created ?? '-', r.provider + (r.kind ? ` (${r.kind})` : '')]),
        ),
      );
    },
  );

  addJsonOption(
    addKeySourceOptions(keys.command('show').description('show one key version and what the last usage scan found for it').argument('<id>', 'key id (see keys list)'), {
      shredStore: false,
    }).option('--report <path>', 'usage report to read (default: <keyring or key config>.usage.json)'),
  ).action(async (id: string, opts: Record<string, unknown>) => {
    const source = keySourceFrom(opts);
    const rows = [...(await listKeyInfo(source)), ...(await listLegacyKeyInfo(source))];
    const info = rows.find((r) => r.id === id);
    if (info === undefined) throw new KeyringError(`key ${JSON.stringify(id)} is not in ${keyFileOf(source)}; see "temporal-envelope keys list"`);
    const reportPath = (opts.report as string | undefined) ?? defaultReportPath(keyFileOf(source));
    const report = await readUsageReport(reportPath);
    const usage = (report?.scans ?? []).map((s) => ({
      namespace: s.namespace,
      address: s.address,
      scannedAt: s.finishedAt,
      payloads: (info.provider === 'legacy' ? s.legacy?.[id] : s.byKey[id])?.payloads ?? 0,
      scopes: info.provider === 'legacy' ? 0 : (s.byKey[id]?.scopes ?? 0),
      schedules: info.provider === 'legacy' ? [] : (s.schedules?.byKey[id]?.schedules ?? []),
    }));
    if (opts.json) {
      printJson(io, { key: info, usage, report: report === undefined ? null : reportPath });
      return;
    }
    const lines: [string, string][] = [
      ['id', info.id],
      ['provider', info.provider],
      ['state', info.state],
    ];
    if (info.version !== undefined) lines.push(['version', String(info.version)]);
    if (info.created !== undefined) lines.push(['created', info.created]);
    if (info.demoted !== undefined) lines.push(['primary until', info.demoted]);
    if (info.retired !== undefined) lines.push(['retired', info.retired]);
    if (info.kind !== undefined) lines.push(['kind', info.kind]);
    if (info.provider === 'local' || info.provider === 'legacy') lines.push(['material', info.destroyed ? 'destroyed' : 'present']);
    if (usage.length === 0) lines.push(['usage', `no scan saved (run "temporal-envelope keys usage --save")`]);
    for (const u of usage) {
      const held = u.schedules.length > 0 ? `, ${u.schedules.length} schedule(s) among them` : '';
      lines.push([`usage ${u.namespace}`, `${u.payloads} payload(s) in ${u.scopes} scope(s)${held}, scanned ${u.scannedAt}`]);
    }
    const width = Math.max(...lines.map(([k]) => k.length));
    for (const [k, v] of lines) printLine(io, `${`${k}:`.padEnd(width + 2)}${v}`);
  });

  addJsonOption(
    addKeySourceOptions(
      keys
        .command('rotate')
        .description('make a new primary key; older versions keep decrypting')
        .option('--new-key <arn|alias>', 'aws-kms: the KMS key (or alias) to make primary'),
      { shredStore: false },
    ),
  ).action(async (opts: Record<string, unknown>) => {
    const source = keySourceFrom(opts);
    if (source.provider === 'aws-kms') {
      const { rotateAwsKeyConfig } = await import('../aws-kms.js');
      const out = await rotateAwsKeyConfig(source, opts.newKey as string | undefined);
      if (opts.json) printJson(io, out);
      else {
        printLine(io, `Rotated ${source.keyConfig}: new primary ${out.primary.id}; ${out.previous.id} is now decrypt-only.`);
        printLine(io, 'Running workers and codec servers re-read the key config on their interval and wrap new data keys with the new primary.');
      }
      return;
    }
    if (opts.newKey !== undefined) throw new UsageError('--new-key applies to --provider aws-kms; a local rotation generates the new key itself');
    const { previous, primary } = await rotateLocalKeyring(source.keyring);
    if (opts.json) {
      printJson(io, { keyring: source.keyring, primary: localKeyInfo(primary, undefined), previous: { id: previous.id, state: 'decrypt-only' } });
      return;
    }
    printLine(io, `Rotated ${source.keyring}: new primary ${primary.id} (version ${primary.version}); ${previous.id} is now decrypt-only.`);
    printLine(io, 'Running workers and codec servers watching this file wrap new data keys with the new primary within their reload interval (2 s by default).');
  });

  addJsonOption(
    addKeySourceOptions(
      keys
        .command('retire')
        .description('stop a key version from decrypting; refused while a usage scan cannot show it is unused')
        .argument('<id>', 'key id (see keys list)')
        .option('--force', 'retire even without a usage scan proving the key is unused')
        .option('--destroy', 'also delete the key material (irreversible; payloads it wrapped are lost for good)')
        .option('--yes', 'confirm --destroy without a prompt (required when stdin is not a terminal)')
        .option('--report <path>', 'usage report to check (default: <keyring or key config>.usage.json)')
        .addOption(new Option('--max-report-age <duration>', 'ignore usage scans older than this').argParser(parseDuration).default(24 * 3_600_000, '24h'))
        .addOption(
          new Option('--settle <duration>', 'scans must start this long after the key stopped being primary (workers switch keys on their reload interval)')
            .argParser(parseDuration)
            .default(60_000, '1m'),
        ),
      { shredStore: false },
    ),
  ).action(async (id: string, opts: Record<string, unknown>) => {
    const source = keySourceFrom(opts);
    const reportPath = (opts.report as string | undefined) ?? defaultReportPath(keyFileOf(source));
    const check = async (key: { id: string; created?: string | undefined; demoted?: string | undefined }) => {
      if (opts.force) return;
      const verdict = assessRetirement(
        await readUsageReport(reportPath),
        { keyId: key.id, created: key.created, demotedAt: key.demoted },
        { now: new Date(), maxReportAgeMs: opts.maxReportAge as number, settleMs: opts.settle as number },
      );
      if (!verdict.ok) {
        throw new OperationError(
          'KEY_MAY_BE_IN_USE',
          `refusing to retire ${id}: no evidence that retained history no longer uses it.\n  - ${verdict.reasons.join('\n  - ')}\n` +
            `Run "temporal-envelope keys usage --save" (report: ${reportPath}), or pass --force if you know better.`,
        );
      }
    };
    if (opts.destroy) {
      await confirmIrreversible(io, { yes: opts.yes === true, action: `Destroying key ${id}`, typeToConfirm: id });
    }
    const legacy = (await listLegacyKeyInfo(source)).find((k) => k.id === id);
    // Retiring a legacy key needs no keyring; only a name clash with one is checked when there is one.
    const known = await listKeyInfo(source).catch((err: unknown) => {
      if (legacy !== undefined) return [];
      throw err;
    });
    if (legacy !== undefined && known.some((k) => k.id === id)) {
      throw new UsageError(`${JSON.stringify(id)} names a key in ${keyFileOf(source)} and a legacy key in ${legacyKeysPathOf(source)}; remove one of them first`);
    }
    const wasRetired = (legacy ?? known.find((k) => k.id === id))?.state === 'retired';
    let result: KeyInfo;
    if (legacy !== undefined) {
      // A samples-codec key: its payloads are counted in the scans' legacy section, and it was
      // never primary here; scans must start after it was imported (plus --settle), when workers
      // began moving off the samples codec.
      const entry = await retireLegacyKey(legacyKeysPathOf(source), id, {
        destroy: opts.destroy === true,
        check: async (e) => {
          if (opts.force) return;
          const verdict = assessRetirement(
            await readUsageReport(reportPath),
            { keyId: e.id, created: undefined, demotedAt: e.added, legacy: true },
            { now: new Date(), maxReportAgeMs: opts.maxReportAge as number, settleMs: opts.settle as number },
          );
          if (!verdict.ok) {
            throw new OperationError(
              'KEY_MAY_BE_IN_USE',
              `refusing to retire legacy key ${id}: no evidence that retained history no longer holds its payloads.\n  - ${verdict.reasons.join('\n  - ')}\n` +
                `Run "temporal-envelope keys usage --save" (report: ${reportPath}) once retention has passed, or pass --force if you know better.`,
            );
          }
        },
      });
      result = legacyKeyInfo(entry, opts.destroy === true || legacy.destroyed === true);
    } else if (source.provider === 'aws-kms') {
      const { retireAwsKey } = await import('../aws-kms.js');
      result = await retireAwsKey(source, id, { check, destroy: opts.destroy === true });
    } else {
      const entry = await retireLocalKey(source.keyring, id, {
        destroy: opts.destroy === true,
        check: async (e, doc) => check({ id: e.id, created: e.created, demoted: demotedAt(doc, e.id) }),
      });
      result = localKeyInfo(entry, undefined);
    }
    if (opts.json) {
      printJson(io, { key: result, forced: opts.force === true });
      return;
    }
    const forced = opts.force ? ' (forced, without usage evidence)' : '';
    printLine(io, wasRetired ? `Destroyed the material of ${id}, retired since ${result.retired ?? '?'}${forced}.` : `Retired ${id}${opts.destroy ? ' and destroyed its material' : ''}${forced}.`);
    printLine(io, 'Payloads it wrapped no longer decrypt once workers reload their keys; data keys already unwrapped in a cache stay usable until the cache entry expires.');
  });

  registerKeysUsage(keys, io);
  registerKeysResealSchedules(keys, io);
  registerKeysImportLegacy(keys, io);
  registerKeysShred(keys, io);
  registerKeysStore(keys, io);
}
