import type { Command } from 'commander';
import { dynamoDbTableDefinition, initShredStore, postgresDdl } from '../../../keys/admin/shred-store-init.js';
import { DEFAULT_POSTGRES_SCHEMA } from '../../../keys/postgres-shred-store.js';
import { UsageError } from '../errors.js';
import { printJson, printLine, type CliIo } from '../io.js';
import { SHRED_STORE_FORMS, addJsonOption, shredStoreFrom, shredStoreOption } from '../options.js';

/**
 * `keys store init`: create a shred store's tables (DynamoDB table, PostgreSQL schema) or directory.
 * The runtime never creates them: a worker that mistypes a table name must fail, not start a store
 * that no other process shares. `--print` shows what would be created, for review or for
 * infrastructure-as-code, and touches nothing.
 */
export function registerKeysStore(keys: Command, io: CliIo): void {
  const store = keys.command('store').description("set up the shred store that makes payloads crypto-shreddable (see docs/key-management.md)");
  const init = store
    .command('init')
    .description('create the shred store: a DynamoDB table, a PostgreSQL schema with two tables, or a directory; checks what exists, replaces nothing')
    .addOption(shredStoreOption('the shred store to create'))
    .option('--grant-to <role>', 'PostgreSQL: grant the runtime role (workers, codec servers) exactly the privileges it needs')
    .option('--print', 'print the DynamoDB table definition or the PostgreSQL DDL instead of creating anything')
    .addHelpText(
      'after',
      '\nDynamoDB: needs dynamodb:CreateTable, DescribeTable, DescribeTimeToLive and UpdateTimeToLive (the runtime needs far less).\n' +
        'PostgreSQL: connect as a role that may create the schema; give workers another role (--grant-to).',
    );
  addJsonOption(init).action(async (opts: Record<string, unknown>) => {
    const location = shredStoreFrom(opts.shredStore as string | undefined);
    if (location === undefined) throw new UsageError(`--shred-store <location> (or TEMPORAL_ENVELOPE_SHRED_STORE) is required: ${SHRED_STORE_FORMS}`);
    const grantTo = opts.grantTo as string | undefined;
    if (grantTo !== undefined && location.type !== 'postgres') throw new UsageError('--grant-to applies to a PostgreSQL shred store only');
    if (opts.print) {
      if (location.type === 'file') throw new UsageError('--print shows database definitions; a file store is just a directory (mode 0700)');
      const definition = location.type === 'dynamodb' ? `${JSON.stringify(dynamoDbTableDefinition(location.table), null, 2)}\n` : postgresDdl(location.schema ?? DEFAULT_POSTGRES_SCHEMA, grantTo);
      if (opts.json) printJson(io, location.type === 'dynamodb' ? { dynamodb: dynamoDbTableDefinition(location.table) } : { sql: definition });
      else io.stdout.write(definition);
      return;
    }
    const outcome = await initShredStore(location, { grantTo });
    if (opts.json) printJson(io, { type: location.type, created: outcome.created, store: outcome.what });
    else printLine(io, outcome.created ? `Created ${outcome.what}.` : `${outcome.what} already exists and has the expected shape; nothing changed.`);
  });
}
