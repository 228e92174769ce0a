import type { Command } from 'commander';
import { EnvelopeCodec } from '../../../codecs/envelope-codec.js';
import { kekIdOf } from '../../../keys/shreddable-provider.js';
import { OperationError } from '../errors.js';
import { formatTable, printJson, printLine, type CliIo } from '../io.js';
import { addJsonOption, addKeySourceOptions, addTemporalOptions, keySourceFrom, temporalOptionsFrom } from '../options.js';
import { openKeyProvider } from '../providers.js';

/**
 * `keys reseal-schedules`: a schedule stores its action's input, memo and summary sealed for as long
 * as it lives, and every run it starts needs them; after a rotation they stay under the old KEK and
 * `keys retire` refuses. This re-seals them under the current primary, through UpdateSchedule.
 */
export function registerKeysResealSchedules(keys: Command, io: CliIo): void {
  const cmd = keys
    .command('reseal-schedules')
    .description("re-seal the payloads every schedule of a namespace stores (its action's input, memo, header, summary) under the current primary key")
    .option('--dry-run', 'only report which schedules hold payloads under other keys; change nothing')
    .option('--schedule-id <id...>', 'only these schedules (default: every schedule of the namespace)')
    .addHelpText(
      'after',
      '\nEach schedule is read (DescribeSchedule), every payload of ours under a key other than the primary is opened\n' +
        'and sealed again for the same scope, and the schedule is written back (UpdateSchedule, with the conflict token\n' +
        'of the read) with everything else unchanged. Running it again changes nothing. It needs the keys (the old one to\n' +
        'open, the primary to seal) and Temporal permission to update schedules. Afterwards: "keys usage --save", then\n' +
        '"keys retire".\n\nExample:\n  temporal-envelope keys reseal-schedules --address 127.0.0.1:7233 --namespace default --dry-run',
    );
  addJsonOption(addKeySourceOptions(addTemporalOptions(cmd))).action(async (opts: Record<string, unknown>) => {
    const source = keySourceFrom(opts);
    const connection = temporalOptionsFrom(opts);
    const dryRun = opts.dryRun === true;
    const provider = await openKeyProvider(source);
    try {
      const codec = new EnvelopeCodec({ keyProviders: provider, defaultNamespace: connection.namespace });
      const primaryKekId = kekIdOf(provider.primaryKeyId());
      const { connectTemporal } = await import('../usage/scan.js');
      const { resealSchedules } = await import('../usage/reseal-schedules.js');
      const temporal = await connectTemporal(connection);
      let results;
      try {
        results = await resealSchedules({
          service: temporal.workflowService,
          namespace: connection.namespace,
          codec,
          primaryKekId,
          dryRun,
          scheduleIds: opts.scheduleId as string[] | undefined,
          identity: 'temporal-envelope keys reseal-schedules',
        });
      } finally {
        await temporal.close();
      }
      const incomplete = results.filter((r) => r.outcome === 'failed' || r.outcome === 'memo-left');
      if (opts.json) {
        printJson(io, { namespace: connection.namespace, address: connection.address, primary: primaryKekId, dryRun, schedules: results });
      } else {
        printLine(io, `Namespace ${JSON.stringify(connection.namespace)} at ${connection.address}, primary key ${primaryKekId}${dryRun ? ' (dry run: nothing changed)' : ''}:`);
        if (results.length === 0) printLine(io, 'No schedules.');
        else {
          printLine(
            io,
            formatTable(
              ['SCHEDULE', 'PAYLOADS', 'UNDER OTHER KEYS', 'RESULT'],
              results.map((r) => [r.scheduleId, String(r.payloads), Object.entries(r.fromKeys).map(([k, n]) => `${n} × ${k}`).join(', ') || '-', describeOutcome(r.outcome, r.resealed)]),
            ),
          );
          for (const r of incomplete) printLine(io, `${r.scheduleId}: ${r.error ?? r.outcome}`);
        }
        const changed = results.filter((r) => r.outcome === 'resealed' || (r.outcome === 'memo-left' && r.resealed > 0)).length;
        if (!dryRun && changed > 0) printLine(io, `\nRe-sealed ${changed} schedule(s). Run "temporal-envelope keys usage --save" before "keys retire".`);
      }
      if (incomplete.length > 0 && !dryRun) {
        throw new OperationError(
          'RESEAL_INCOMPLETE',
          `${incomplete.length} schedule(s) still hold payloads under other keys: ${incomplete.map((r) => `${JSON.stringify(r.scheduleId)} (${r.error ?? r.outcome})`).join('; ')}`,
        );
      }
    } finally {
      await provider.close?.();
    }
  });
}

function describeOutcome(outcome: string, resealed: number): string {
  switch (outcome) {
    case 'current':
      return 'up to date';
    case 'would-reseal':
      return `would re-seal ${resealed}`;
    case 'resealed':
      return `re-sealed ${resealed}`;
    case 'memo-left':
      return `re-sealed ${resealed}; own memo left under its old key`;
    default:
      return 'FAILED, unchanged';
  }
}
