import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { openScopeSecretStore, type ShredStoreOptions } from '../../keys/shred-store-options.js';
import { makeScope } from '../../primitives/scope.js';

/**
 * Another process sharing a shred store, for the tests in test/shred-stores.test.ts: the way a
 * second worker or codec-server replica on another machine would use it. Prints JSON lines on
 * stdout, never a secret (only a hash of it, to compare across processes).
 *
 *   create  {store, workflowIds}: prints {ready: true}, waits for a line on stdin (the test sends it
 *           to every process at once, so they collide), then getOrCreates every scope at once;
 *           prints {workflowId, secret: sha256} or {workflowId, error: code} for each
 *   watch   {store, intervalMs}: prints {ready: true}, then every shred event it sees, until stdin closes
 *   churn   {store, prefix, lanes}: prints {ready: true}, then getOrCreates `<prefix>-0`, `-1`, … in
 *           `lanes` concurrent lanes (every churning process walks the same ids, so they collide),
 *           printing {workflowId, secret} or {workflowId, error} for each, until stdin closes: a
 *           fleet creating secrets through an outage of the store
 */
type Args =
  | { mode: 'create'; store: ShredStoreOptions; workflowIds: string[] }
  | { mode: 'watch'; store: ShredStoreOptions; intervalMs: number }
  | { mode: 'churn'; store: ShredStoreOptions; prefix: string; lanes: number };

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const print = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
const store = await openScopeSecretStore(args.store);

const stdin = createInterface({ input: process.stdin });
if (args.mode === 'create') {
  print({ ready: true });
  await new Promise((resolve) => stdin.once('line', resolve));
  const results = await Promise.all(
    args.workflowIds.map(async (workflowId) => {
      try {
        const secret = await store.getOrCreate(makeScope('default', workflowId));
        return { workflowId, secret: createHash('sha256').update(secret).digest('hex') };
      } catch (err) {
        return { workflowId, error: (err as { code?: string }).code ?? String(err) };
      }
    }),
  );
  for (const r of results) print(r);
  stdin.close();
  await store.close?.();
} else if (args.mode === 'churn') {
  let open = true;
  stdin.once('close', () => (open = false));
  let next = 0;
  print({ ready: true });
  const lane = async () => {
    while (open) {
      const workflowId = `${args.prefix}-${next++}`;
      try {
        const secret = await store.getOrCreate(makeScope('default', workflowId));
        print({ workflowId, secret: createHash('sha256').update(secret).digest('hex') });
      } catch (err) {
        print({ workflowId, error: (err as { code?: string }).code ?? String(err) });
        // A refused connection fails at once: do not spin while the store is down.
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  await Promise.all(Array.from({ length: args.lanes }, lane));
  await store.close?.();
} else {
  const watch = store.watchShreds!((event) => print({ event }), args.intervalMs);
  print({ ready: true });
  // Until the test closes stdin (or dies: then stdin closes too).
  await new Promise<void>((resolve) => stdin.on('close', resolve));
  watch.close();
  await store.close?.();
}
