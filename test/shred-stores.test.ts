import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { Payload } from '@temporalio/common';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec } from '../codecs/envelope-codec.js';
import { initShredStore } from '../keys/admin/shred-store-init.js';
import { createDynamoDbClient, secretItemKey } from '../keys/dynamodb-shred-store.js';
import { newKeyringDocument } from '../keys/keyring-file.js';
import { LocalKeyring } from '../keys/local-keyring.js';
import { openScopeSecretStore, type ShredStoreOptions } from '../keys/shred-store-options.js';
import { scopeSecretId, type ScopeSecretStore, type ShredEvent } from '../keys/shred-store.js';
import { ShreddableKeyProvider } from '../keys/shreddable-provider.js';
import { makeScope, type Scope } from '../primitives/scope.js';
import { startMoto, type Moto } from './cli-support/moto.js';
import { startPostgres, type Postgres } from './cli-support/postgres.js';
import { REPO_ROOT } from './cli-support/run-cli.js';
import { FaultProxy } from './support/fault-proxy.js';
import { jsonPayload, text } from './support/payloads.js';

/**
 * The shared shred stores against real servers, started and stopped here: DynamoDB as moto serves it
 * on loopback, PostgreSQL as Debian packages it (a throwaway cluster). One suite, run against both:
 * the file store's semantics, several processes at once, shreds seen by every process, shreds racing
 * creations, and an outage in the middle of it all.
 */

// moto accepts any credentials; these are placeholders, never real ones. Child processes inherit them.
process.env.AWS_ACCESS_KEY_ID = 'testing';
process.env.AWS_SECRET_ACCESS_KEY = 'testing';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

interface Backend {
  /** What workers and codec servers are given. */
  readonly store: ShredStoreOptions;
  /** The same server, but tables nobody created. */
  readonly uninitialised: ShredStoreOptions;
  /** Whether the store still holds secret bytes for the scope (read with admin access, beside the store's API). */
  rawSecretPresent(scope: Scope): Promise<boolean>;
  /** Take the store down; the promise of `up` brings it back with its data. */
  down(): Promise<{ up(): Promise<void> }>;
  stop(): Promise<void>;
}

async function dynamoDbBackend(): Promise<Backend & { moto: Moto }> {
  // One request at a time: DynamoDB's per-request atomicity, which moto's threaded server lacks (see moto.ts).
  const moto = await startMoto({ serial: true });
  const store = { type: 'dynamodb', table: 'te-shred-store', region: 'us-east-1', endpoint: moto.endpoint, requestTimeoutMs: 1500 } as const;
  expect(await initShredStore(store)).toMatchObject({ created: true });
  const admin = createDynamoDbClient(store);
  return {
    moto,
    store,
    uninitialised: { ...store, table: 'te-no-such-table' },
    rawSecretPresent: async (scope) => (await admin.send(new GetItemCommand({ TableName: store.table, Key: secretItemKey(scope), ConsistentRead: true }))).Item?.secret !== undefined,
    // A frozen moto: connections open and nothing answers (timeouts), its data intact for the return.
    down: async () => {
      moto.pause();
      return { up: async () => moto.resume() };
    },
    stop: async () => {
      admin.destroy();
      await moto.stop();
    },
  };
}

async function postgresBackend(): Promise<Backend & { pg: Postgres }> {
  const server = await startPostgres();
  // The runtime connects as its own role with only the grants `keys store init --grant-to` gives.
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  await admin.query("CREATE ROLE te_app LOGIN PASSWORD 'app-password'");
  expect(await initShredStore({ type: 'postgres', connectionString: server.adminUrl }, { grantTo: 'te_app' })).toMatchObject({ created: true });
  const store = { type: 'postgres', connectionString: server.url({ user: 'te_app', password: 'app-password' }), requestTimeoutMs: 1500 } as const;
  let adminClient: pg.Client | undefined = admin;
  const query = async (sql: string, values: unknown[]) => {
    if (adminClient === undefined) {
      adminClient = new pg.Client({ connectionString: server.adminUrl });
      await adminClient.connect();
    }
    return adminClient.query(sql, values);
  };
  return {
    pg: server,
    store,
    uninitialised: { ...store, schema: 'te_never_created' },
    rawSecretPresent: async (scope) => (await query('SELECT secret IS NOT NULL AS present FROM temporal_envelope.scope_secrets WHERE scope_id = $1', [scopeSecretId(scope)])).rows[0]?.present === true,
    // The server really stopped (fast shutdown: connections cut), then started again on its data.
    down: async () => {
      await adminClient?.end().catch(() => undefined);
      adminClient = undefined;
      await server.stop();
      return { up: () => server.start() };
    },
    stop: async () => {
      await adminClient?.end().catch(() => undefined);
      await server.destroy();
    },
  };
}

const CHILD = path.join(REPO_ROOT, 'test', 'support', 'shred-store-child.ts');

/** test/support/shred-store-child.ts as a real process: another worker or replica sharing the store. */
function child(args: unknown) {
  const proc: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(args)], { cwd: REPO_ROOT, env: process.env });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  let buffer = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => {
    buffer += d;
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    for (const l of parts) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
  const until = async (what: string, done: () => boolean, timeoutMs = 60_000) => {
    const end = Date.now() + timeoutMs;
    while (!done()) {
      if (proc.exitCode !== null && !done()) throw new Error(`child exited (${proc.exitCode}) before ${what}: ${stderr}`);
      if (Date.now() > end) throw new Error(`child: no ${what} within ${timeoutMs} ms: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return {
    lines,
    ready: () => until('ready', () => lines.some((l) => l.ready === true)),
    until,
    send: (line: string) => proc.stdin.write(`${line}\n`),
    end: async () => {
      proc.stdin.end();
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return { code, stderr };
    },
  };
}

const hash = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const settle = (p: Promise<unknown>) => p.then((value) => ({ value }), (error: unknown) => ({ error: error as { code?: string; retryable?: boolean; message?: string } }));
const unique = (() => {
  let n = 0;
  return (prefix: string) => `${prefix}-${Date.now().toString(36)}-${n++}`;
})();

// 240 s a test: alone they take up to 45 s (a hundred processes' requests through one-at-a-time moto,
// CLI processes that each start tsx); beside the rest of npm test on two cores, 60 s was not enough.
describe.each([
  ['DynamoDB (moto)', dynamoDbBackend],
  ['PostgreSQL (Debian)', postgresBackend],
] as const)('shred store on %s', { timeout: 240_000 }, (_name, start) => {
  let backend: Backend;
  let store: ScopeSecretStore;
  const opened: ScopeSecretStore[] = [];
  const open = async (options: { requestTimeoutMs?: number } = {}) => {
    const s = await openScopeSecretStore({ ...backend.store, ...options });
    opened.push(s);
    return s;
  };

  beforeAll(async () => {
    backend = await start();
    store = await open();
  });
  afterAll(async () => {
    for (const s of opened) await s.close?.();
    await backend?.stop();
  });

  it("keeps the file store's semantics: one secret per scope, shred leaves a tombstone, idempotent, status", async () => {
    const scope = makeScope('default', unique('customer'));
    expect(await store.status(scope)).toEqual({ state: 'absent' });
    // A secret this store never had is permanent, and says which store lacks it.
    await expect(store.get(scope)).rejects.toMatchObject({ code: 'UNKNOWN_KEY', retryable: false, message: expect.stringContaining('not the shred store the payload was sealed with') });

    const a = await store.getOrCreate(scope);
    expect(a).toHaveLength(32);
    expect(hash(await store.getOrCreate(scope))).toBe(hash(a));
    expect(hash(await (await open()).get(scope))).toBe(hash(a));
    expect(await store.status(scope)).toEqual({ state: 'active', created: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(await backend.rawSecretPresent(scope)).toBe(true);

    // Scopes are exact: another namespace, or the namespace scope, is another secret.
    const otherNs = await store.getOrCreate(makeScope('billing', scope.workflowId));
    const nsScope = await store.getOrCreate(makeScope('default'));
    expect(new Set([hash(a), hash(otherNs), hash(nsScope)]).size).toBe(3);

    const when = new Date('2026-11-29T10:00:00.000Z');
    expect(await store.shred(scope, when)).toEqual({ before: 'active', shredded: when.toISOString() });
    expect(await backend.rawSecretPresent(scope)).toBe(false);
    expect(await store.status(scope)).toEqual({ state: 'shredded', shredded: when.toISOString() });
    await expect(store.get(scope)).rejects.toMatchObject({ code: 'KEY_SHREDDED', message: expect.stringContaining('was crypto-shredded at 2026-11-29T10:00:00.000Z') });
    await expect(store.getOrCreate(scope)).rejects.toMatchObject({ code: 'KEY_SHREDDED' });
    expect(await store.shred(scope)).toEqual({ before: 'shredded', shredded: when.toISOString() });
    // The other scopes are untouched.
    expect(hash(await store.get(makeScope('billing', scope.workflowId)))).toBe(hash(otherNs));

    // Shredding a scope that never had a secret leaves a tombstone that stops one being created.
    const never = makeScope('default', unique('never'));
    expect((await store.shred(never)).before).toBe('absent');
    await expect(store.getOrCreate(never)).rejects.toMatchObject({ code: 'KEY_SHREDDED' });

    // Any workflow id, up to the 1024-byte limit, names a scope without reaching the store's keys.
    const odd = makeScope('default', `\uFEFF${'é'.repeat(510)}`); // 3 + 1020 bytes
    expect(hash(await store.getOrCreate(odd))).toBe(hash(await store.get(odd)));
  });

  it('tables nobody created are KEYRING_ERROR naming `keys store init`: the runtime never creates them', async () => {
    const missing = await openScopeSecretStore(backend.uninitialised);
    opened.push(missing);
    const scope = makeScope('default', 'w');
    for (const attempt of [() => missing.getOrCreate(scope), () => missing.get(scope), () => missing.shred(scope)]) {
      await expect(attempt()).rejects.toMatchObject({ code: 'KEYRING_ERROR', retryable: false, message: expect.stringContaining('keys store init') });
    }
  });

  it('several processes creating the same secrets at once agree on one secret per scope', async () => {
    const workflowIds = Array.from({ length: 25 }, () => unique('race'));
    // A generous timeout: moto answers one request at a time, and this sends it a hundred at once.
    const procs = Array.from({ length: 4 }, () => child({ mode: 'create', store: { ...backend.store, requestTimeoutMs: 30_000 }, workflowIds }));
    try {
      await Promise.all(procs.map((p) => p.ready()));
      for (const p of procs) p.send('go');
      await Promise.all(procs.map((p) => p.until('results', () => p.lines.filter((l) => 'workflowId' in l).length === workflowIds.length)));
    } finally {
      for (const p of procs) expect((await p.end()).code).toBe(0);
    }
    for (const workflowId of workflowIds) {
      const seen = procs.map((p) => p.lines.find((l) => l.workflowId === workflowId));
      expect(seen.map((l) => l?.error)).toEqual([undefined, undefined, undefined, undefined]);
      expect(new Set(seen.map((l) => l?.secret)).size, workflowId).toBe(1);
      expect(seen[0]?.secret).toBe(hash(await store.get(makeScope('default', workflowId))));
    }
  });

  it('every process watching the store sees a shred within its watch interval', async () => {
    const watchers = Array.from({ length: 4 }, () => child({ mode: 'watch', store: backend.store, intervalMs: 200 }));
    const [gone1, gone2, kept] = [unique('gone'), unique('gone'), unique('kept')];
    try {
      await Promise.all(watchers.map((w) => w.ready()));
      for (const id of [gone1, gone2, kept]) await store.getOrCreate(makeScope('default', id));
      await store.shred(makeScope('default', gone1));
      await store.shred(makeScope('default', gone2));
      const saw = (w: ReturnType<typeof child>, id: string) => w.lines.some((l) => (l.event as ShredEvent | undefined)?.workflowId === id);
      // No timing assertion: the deadline is only there to fail rather than hang.
      await Promise.all(watchers.map((w) => w.until('both shred events', () => saw(w, gone1) && saw(w, gone2), 30_000)));
      for (const w of watchers) {
        expect(saw(w, kept)).toBe(false);
        expect(w.lines.find((l) => (l.event as ShredEvent | undefined)?.workflowId === gone1)?.event).toMatchObject({ namespace: 'default', shredded: expect.any(String) });
      }
    } finally {
      for (const w of watchers) expect((await w.end()).code).toBe(0);
    }
  });

  it('a shred racing creations never resurrects a secret', async () => {
    // Three stores, three connections: the race happens in the database, not in one client.
    // A generous timeout: moto answers one request at a time, and this sends it many at once.
    const [a, b, c] = [await open({ requestTimeoutMs: 30_000 }), await open({ requestTimeoutMs: 30_000 }), await open({ requestTimeoutMs: 30_000 })];
    const scopes = Array.from({ length: 40 }, () => makeScope('default', unique('resurrect')));
    const outcomes = { secret: 0, shredded: 0 };
    const race = async (scope: Scope, i: number) => {
      // Some scopes exist before the race, some do not: both of the shred's paths race creation.
      if (i % 2 === 0) await a.getOrCreate(scope);
      const racers = [settle(b.getOrCreate(scope)), settle(c.getOrCreate(scope)), settle(a.shred(scope)), settle(b.getOrCreate(scope)), settle(c.getOrCreate(scope))];
      const results = await Promise.all(racers);
      const secrets = new Set<string>();
      for (const r of results.filter((_, k) => k !== 2)) {
        if ('value' in r) {
          secrets.add(hash(r.value as Uint8Array));
          outcomes.secret++;
        } else {
          expect(r.error.code).toBe('KEY_SHREDDED');
          outcomes.shredded++;
        }
      }
      expect('value' in results[2]!, JSON.stringify(results[2])).toBe(true);
      // Never two secrets for one scope, and once the shred returned, none at all.
      expect(secrets.size).toBeLessThanOrEqual(1);
      for (const s of [a, b, c]) await expect(s.getOrCreate(scope)).rejects.toMatchObject({ code: 'KEY_SHREDDED' });
      expect(await a.status(scope)).toMatchObject({ state: 'shredded' });
      expect(await backend.rawSecretPresent(scope)).toBe(false);
    };
    for (let i = 0; i < scopes.length; i += 8) await Promise.all(scopes.slice(i, i + 8).map((scope, j) => race(scope, i + j)));
    // Every creation either got the one secret (it ran before the shred) or KEY_SHREDDED (after it).
    expect(outcomes.secret + outcomes.shredded).toBe(160);
  });

  it('the store stopped and restarted while several processes create secrets: retryable failures, one secret per scope', async () => {
    const prefix = unique('churn');
    const procs = Array.from({ length: 3 }, () => child({ mode: 'churn', store: backend.store, prefix, lanes: 4 }));
    const results = (p: ReturnType<typeof child>) => p.lines.filter((l) => 'workflowId' in l) as { workflowId: string; secret?: string; error?: string }[];
    const count = (p: ReturnType<typeof child>, what: 'secret' | 'error') => results(p).filter((r) => r[what] !== undefined).length;
    let outage: { up(): Promise<void> } | undefined;
    try {
      await Promise.all(procs.map((p) => p.ready()));
      await Promise.all(procs.map((p) => p.until('20 secrets', () => count(p, 'secret') >= 20)));
      // Mid-run: every process has requests in flight when the server goes.
      outage = await backend.down();
      await Promise.all(procs.map((p) => p.until('a failure during the outage', () => count(p, 'error') >= 1)));
      const before = procs.map((p) => count(p, 'secret'));
      await outage.up();
      outage = undefined;
      await Promise.all(procs.map((p, i) => p.until('20 secrets after the restart', () => count(p, 'secret') >= before[i]! + 20)));
    } finally {
      if (outage) await outage.up();
      for (const p of procs) expect((await p.end()).code).toBe(0);
    }
    const byId = new Map<string, Set<string>>();
    for (const p of procs) {
      for (const r of results(p)) {
        // The outage is only ever the retryable code: never "absent", never a permanent error.
        if (r.error !== undefined) expect(r.error, r.workflowId).toBe('STORE_UNAVAILABLE');
        else byId.set(r.workflowId, (byId.get(r.workflowId) ?? new Set()).add(r.secret!));
      }
    }
    expect(byId.size).toBeGreaterThanOrEqual(40);
    // Every scope has one secret, the one the store now holds, whichever process and side of the
    // outage created or read it: a creation whose answer was lost was not made twice.
    for (const [workflowId, secrets] of byId) {
      expect(secrets.size, workflowId).toBe(1);
      expect(hash(await store.get(makeScope('default', workflowId))), workflowId).toBe([...secrets][0]);
    }
  });

  it('an outage fails retryably, serves cached keys, loses and corrupts nothing, and recovers', async () => {
    const keyring = newKeyringDocument();
    const codecOn = (s: ScopeSecretStore) => new EnvelopeCodec({ keyProviders: new ShreddableKeyProvider(LocalKeyring.fromDocument(keyring), s) });
    const worker = codecOn(store);
    const wf = unique('outage');
    const ctx = (workflowId: string) => ({ type: 'workflow' as const, namespace: 'default', workflowId });
    const [before] = await worker.encode([jsonPayload('sealed before the outage')], ctx(wf));
    const secretBefore = hash(await store.get(makeScope('default', wf)));
    const warnings: string[] = [];
    const watcherStore = await openScopeSecretStore(backend.store, { warn: (m) => warnings.push(m) });
    opened.push(watcherStore);
    const watch = watcherStore.watchShreds!(() => undefined, 100);
    const fresh = await open();

    const outage = await backend.down();
    let during: Payload | undefined;
    try {
      // Typed and retryable: the workflow task fails and Temporal retries it.
      for (const attempt of [() => fresh.getOrCreate(makeScope('default', unique('new'))), () => fresh.get(makeScope('default', wf)), () => fresh.shred(makeScope('default', unique('x')))]) {
        expect(await settle(attempt())).toMatchObject({ error: { code: 'STORE_UNAVAILABLE', retryable: true } });
      }
      // Never "absent": a sealed payload is not declared lost because the store did not answer.
      expect(await settle(codecOn(fresh).decode([before!], ctx(wf)))).toMatchObject({ error: { code: 'STORE_UNAVAILABLE', retryable: true } });
      expect(await settle(codecOn(fresh).encode([jsonPayload('x')], ctx(unique('new'))))).toMatchObject({ error: { code: 'STORE_UNAVAILABLE', retryable: true } });
      // A process with the workflow's key cached keeps sealing for it meanwhile.
      [during] = await worker.encode([jsonPayload('sealed during the outage')], ctx(wf));
      await expect.poll(() => warnings.some((w) => /cannot read shred events \(STORE_UNAVAILABLE/.test(w)), { timeout: 30_000 }).toBe(true);
    } finally {
      await outage.up();
    }

    // Back: what was sealed before and during opens in a process that never saw it, with the same secret.
    const reader = codecOn(await open());
    await expect.poll(async () => 'value' in (await settle(reader.decode([before!], ctx(wf)))), { timeout: 30_000, interval: 250 }).toBe(true);
    expect(text((await reader.decode([before!], ctx(wf)))[0])).toBe('"sealed before the outage"');
    expect(text((await reader.decode([during!], ctx(wf)))[0])).toBe('"sealed during the outage"');
    expect(hash(await fresh.get(makeScope('default', wf)))).toBe(secretBefore);
    const next = makeScope('default', unique('after'));
    expect(hash(await fresh.getOrCreate(next))).toBe(hash(await store.get(next)));
    await expect.poll(() => warnings.some((w) => /shred events readable again/.test(w)), { timeout: 30_000 }).toBe(true);
    watch.close();
  });
});

describe('shred store on DynamoDB: throttling and refused connections', () => {
  let moto: Moto;
  let proxy: FaultProxy;
  beforeAll(async () => {
    moto = await startMoto();
    await initShredStore({ type: 'dynamodb', table: 'te-shred-faults', region: 'us-east-1', endpoint: moto.endpoint });
    proxy = await FaultProxy.start(moto.endpoint);
  });
  afterAll(async () => {
    await proxy?.stop();
    await moto?.stop();
  });

  it('is STORE_UNAVAILABLE (retryable) for throttling and resets', async () => {
    const store = await openScopeSecretStore({ type: 'dynamodb', table: 'te-shred-faults', region: 'us-east-1', endpoint: proxy.endpoint, requestTimeoutMs: 5000 });
    try {
      const scope = makeScope('default', 'wf-faults');
      const secret = await store.getOrCreate(scope);
      proxy.set({ kind: 'http-error', status: 400, body: JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException', message: 'Rate exceeded' }) });
      await expect(store.get(scope)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', retryable: true, message: expect.stringContaining('ThrottlingException') });
      proxy.set({ kind: 'reset' });
      await expect(store.get(scope)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', retryable: true });
      proxy.set({ kind: 'pass' });
      expect(hash(await store.get(scope))).toBe(hash(secret));
    } finally {
      await store.close?.();
    }
  });
});
