import { Option, type Command } from 'commander';
import { describeScope, makeScope } from '../../../primitives/scope.js';
import { openScopeSecretStore } from '../../../keys/shred-store-options.js';
import { confirmIrreversible } from '../confirm.js';
import { UsageError } from '../errors.js';
import { printJson, printLine, type CliIo } from '../io.js';
import { SHRED_STORE_FORMS, addJsonOption, addWorkflowIdOption, shredStoreFrom, shredStoreOption, workflowIdFrom } from '../options.js';
import { parseNonEmpty } from '../parse.js';

/** `keys shred`: destroy one workflow's secret so its payloads never open again (crypto-shredding). */
export function registerKeysShred(keys: Command, io: CliIo): void {
  const cmd = keys.command('shred')
    .description("make one workflow's payloads permanently unreadable by destroying its secret in the shred store");
  addWorkflowIdOption(cmd, 'workflow id to shred')
    .addOption(new Option('-n, --namespace <namespace>', 'namespace of the workflow').env('TEMPORAL_NAMESPACE').default('default').argParser(parseNonEmpty))
    .option('--namespace-scope', 'shred the namespace-scoped secret instead (payloads sealed without a workflow id, e.g. by the UI)')
    .addOption(shredStoreOption('the shred store the workers and codec servers use'))
    .option('--yes', 'confirm without a prompt (required when stdin is not a terminal)')
    .addHelpText(
      'after',
      '\nOnly payloads sealed while the shred store was configured (key ids starting "shred:") can be shredded.\n' +
        'Running processes drop cached keys of the workflow when they see the shred event (within their watch interval) or when their cache expires.\n' +
        'See docs/key-management.md, "Crypto-shredding", for the design and its limits.',
    );
  addJsonOption(cmd).action(async (opts: Record<string, unknown>) => {
    const location = shredStoreFrom(opts.shredStore as string | undefined);
    if (location === undefined) throw new UsageError(`--shred-store <location> (or TEMPORAL_ENVELOPE_SHRED_STORE) is required: it is where the secrets to destroy live (${SHRED_STORE_FORMS})`);
    const workflowId = workflowIdFrom(opts);
    const namespaceScope = opts.namespaceScope === true;
    if (workflowId === undefined && !namespaceScope) throw new UsageError('--workflow-id <id> is required (or --namespace-scope to shred the namespace-scoped secret)');
    if (workflowId !== undefined && namespaceScope) throw new UsageError('--workflow-id and --namespace-scope exclude each other');
    const namespace = opts.namespace as string;
    const scope = makeScope(namespace, workflowId);
    const what = describeScope(scope);
    await confirmIrreversible(io, { yes: opts.yes === true, action: `Shredding ${what}`, typeToConfirm: workflowId ?? namespace });
    const store = await openScopeSecretStore(location);
    let outcome;
    try {
      outcome = await store.shred(scope);
    } finally {
      await store.close?.();
    }
    if (opts.json) {
      printJson(io, { namespace, workflowId: workflowId ?? null, before: outcome.before, shredded: outcome.shredded, store: location.type === 'file' ? location.path : store.description });
      return;
    }
    if (outcome.before === 'shredded') printLine(io, `${capitalize(what)} was already shredded at ${outcome.shredded}.`);
    else if (outcome.before === 'absent') {
      printLine(io, `No secret existed for ${what} in ${store.description}; a tombstone now stops one from being created.`);
      printLine(io, 'If the workflow has payloads, they were not sealed through this shred store and are NOT shredded.');
    } else printLine(io, `Shredded ${what} at ${outcome.shredded}: its payloads can no longer be decrypted.`);
  });
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
