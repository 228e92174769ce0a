import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyring } from '../keys/keyring-file.js';
import { sha256Hex } from '../src/config/token-hash.js';
import { serve, type RunningServer } from '../src/server/index.js';
import { startMoto, type Moto } from './cli-support/moto.js';
import { startPostgres, type Postgres } from './cli-support/postgres.js';
import { parseJson, runCli } from './cli-support/run-cli.js';

/**
 * End to end, for each shared store: a codec server (configured with `keys.shredStore`) and worker
 * processes (the CLI's encode/decode, which assemble their keys as a worker does) on one DynamoDB
 * table or PostgreSQL database, each opening what the other sealed; `keys store init` and
 * `keys shred` through the CLI; after the shred the server leaves that workflow's payloads sealed
 * and keeps decoding the rest. A payload sealed through another store is a 422 that says so.
 */

process.env.AWS_ACCESS_KEY_ID = 'testing'; // moto accepts any credentials; placeholders, never real ones
process.env.AWS_SECRET_ACCESS_KEY = 'testing';

interface Setup {
  /** What workers and the server use, as the CLI's --shred-store string and as config. */
  readonly location: string;
  readonly config: Record<string, unknown>;
  /** The administrator's location for `keys store init`, and its extra flags. */
  readonly adminLocation: string;
  readonly initFlags: string[];
  readonly printed: RegExp;
  down(): Promise<{ up(): Promise<void> }>;
  stop(): Promise<void>;
}

async function dynamoDb(): Promise<Setup> {
  const moto: Moto = await startMoto({ serial: true }); // DynamoDB's per-request atomicity; see moto.ts
  const location = `dynamodb://te-e2e?region=us-east-1&endpoint=${encodeURIComponent(moto.endpoint)}`;
  return {
    location,
    config: { type: 'dynamodb', table: 'te-e2e', region: 'us-east-1', endpoint: moto.endpoint, requestTimeoutMs: 1500 },
    adminLocation: location,
    initFlags: [],
    printed: /"KeySchema"[\s\S]*"AttributeName": "pk"/,
    down: async () => {
      moto.pause();
      return { up: async () => moto.resume() };
    },
    stop: () => moto.stop(),
  };
}

async function postgres(): Promise<Setup> {
  const server: Postgres = await startPostgres();
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  await admin.query("CREATE ROLE te_worker LOGIN PASSWORD 'worker-password'");
  await admin.end();
  const location = `${server.url({ user: 'te_worker', password: 'worker-password' })}?schema=te_e2e`;
  return {
    location,
    config: { type: 'postgres', connectionString: server.url({ user: 'te_worker', password: 'worker-password' }), schema: 'te_e2e', requestTimeoutMs: 1500 },
    adminLocation: `${server.adminUrl}?schema=te_e2e`,
    initFlags: ['--grant-to', 'te_worker'],
    printed: /CREATE TABLE IF NOT EXISTS te_e2e\.scope_secrets[\s\S]*GRANT SELECT, INSERT, UPDATE ON te_e2e\.scope_secrets TO te_worker/,
    down: async () => {
      await server.stop();
      return { up: () => server.start() };
    },
    stop: () => server.destroy(),
  };
}

const token = 'shred-stores-e2e-token-0123456789';
const payloadJson = (value: string) => JSON.stringify({ payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from(JSON.stringify(value)).toString('base64') }] });
type PayloadsBody = { payloads: { metadata: Record<string, string>; data: string }[] };
const text = (p: { data: string } | undefined) => Buffer.from(p?.data ?? '', 'base64').toString();

// 240 s a test: alone they take up to 45 s (a hundred processes' requests through one-at-a-time moto,
// CLI processes that each start tsx); beside the rest of npm test on two cores, 60 s was not enough.
describe.each([
  ['DynamoDB (moto)', dynamoDb],
  ['PostgreSQL (Debian)', postgres],
] as const)('a codec server and workers sharing a shred store on %s', { timeout: 240_000 }, (_name, start) => {
  let setup: Setup;
  let server: RunningServer;
  let dir: string;
  let keyring: string;

  /** A worker process: the CLI's encode/decode assemble their keys with openKeyProviders, as a worker does. */
  const worker = (args: string[], input: string) => runCli([...args, '--keyring', keyring, '--shred-store', setup.location, '--json'], { input });
  const seal = async (workflowId: string, value: string) => {
    const r = await worker(['encode', '--namespace', 'default', '--workflow-id', workflowId], payloadJson(value));
    expect(r.code, r.stderr).toBe(0);
    return parseJson<PayloadsBody>(r.stdout);
  };
  const call = async (route: '/decode' | '/encode', body: PayloadsBody) => {
    const res = await fetch(`${server.url}${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'default', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as PayloadsBody & { error?: { code: string; message: string } } };
  };

  beforeAll(async () => {
    setup = await start();
    dir = mkdtempSync(path.join(tmpdir(), 'te-shred-e2e-'));
    keyring = path.join(dir, 'keyring.json');
    await createKeyring(keyring);

    // The tables come from `keys store init`, never from the runtime; a second run changes nothing.
    const init = await runCli(['keys', 'store', 'init', '--shred-store', setup.adminLocation, ...setup.initFlags]);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/^Created /);
    const again = await runCli(['keys', 'store', 'init', '--shred-store', setup.adminLocation, ...setup.initFlags, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(parseJson(again.stdout)).toMatchObject({ created: false });

    const config = path.join(dir, 'server.yaml');
    writeFileSync(
      config,
      YAML.stringify({
        server: { host: '127.0.0.1', port: 0 },
        auth: { staticTokens: [{ principal: 'op', sha256: `sha256:${sha256Hex(token)}` }] },
        policy: { rules: [{ principals: ['op'], namespaces: ['default'], actions: ['decode', 'encode'] }] },
        keys: { provider: 'local', local: { path: keyring, watchIntervalMs: 0 }, shredStore: { ...setup.config, watchIntervalMs: 100 } },
        rateLimit: { enabled: false },
        log: { level: 'silent' },
      }),
    );
    server = await serve({ configPath: config, env: {}, handleSignals: false });
  });
  afterAll(async () => {
    await server?.close();
    await setup?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('`keys store init --print` shows the definition and touches nothing', async () => {
    const r = await runCli(['keys', 'store', 'init', '--shred-store', setup.adminLocation, ...setup.initFlags, '--print']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(setup.printed);
  });

  it("each side opens what the other sealed; after `keys shred` the server leaves that workflow sealed and decodes the rest", async () => {
    const [one, two] = [await seal('customer-1', 'pii of customer 1'), await seal('customer-2', 'pii of customer 2')];
    expect(Buffer.from(one.payloads[0]!.metadata['encryption-key-id']!, 'base64').toString()).toMatch(/^shred:local-1-/);
    const both = { payloads: [...one.payloads, ...two.payloads] };
    let res = await call('/decode', both);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.payloads.map(text)).toEqual(['"pii of customer 1"', '"pii of customer 2"']);

    // The server seals (namespace scope, the UI's /encode); a worker process opens it.
    const fromServer = await call('/encode', JSON.parse(payloadJson('from the server')) as PayloadsBody);
    expect(fromServer.status, JSON.stringify(fromServer.body)).toBe(200);
    const opened = await worker(['decode'], JSON.stringify({ payloads: fromServer.body.payloads }));
    expect(opened.code, opened.stderr).toBe(0);
    expect(text(parseJson<PayloadsBody>(opened.stdout).payloads[0])).toBe('"from the server"');

    const shred = await runCli(['keys', 'shred', '--workflow', 'customer-1', '--shred-store', setup.location, '--yes', '--json']);
    expect(shred.code, shred.stderr).toBe(0);
    expect(parseJson(shred.stdout)).toMatchObject({ namespace: 'default', workflowId: 'customer-1', before: 'active' });

    // The server had customer-1's key cached; its watch drops it, then the payload comes back sealed.
    await expect.poll(async () => (await call('/decode', both)).body.payloads[0], { timeout: 30_000, interval: 100 }).toEqual(one.payloads[0]);
    res = await call('/decode', both);
    expect(res.status).toBe(200);
    expect(text(res.body.payloads[1])).toBe('"pii of customer 2"');
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/temporal_envelope_payloads_total\{op="decode",outcome="failed"\} [1-9]/);

    // A worker process gets KEY_SHREDDED (exit 3) for it, and no new payloads for that workflow.
    const dec = await worker(['decode'], JSON.stringify(one));
    expect(dec.code).toBe(3);
    expect(parseJson<{ error: { code: string } }>(dec.stderr).error.code).toBe('KEY_SHREDDED');
    const again = await worker(['encode', '--namespace', 'default', '--workflow-id', 'customer-1'], payloadJson('more'));
    expect(parseJson<{ error: { code: string } }>(again.stderr).error.code).toBe('KEY_SHREDDED');
  });

  it('a payload sealed through another store is a 422 saying so, not a 503 to retry forever', async () => {
    const elsewhere = path.join(dir, 'another-store');
    const r = await runCli(['encode', '--keyring', keyring, '--shred-store', elsewhere, '--namespace', 'default', '--workflow-id', 'customer-9'], { input: payloadJson('sealed elsewhere') });
    expect(r.code, r.stderr).toBe(0);
    const res = await call('/decode', parseJson<PayloadsBody>(r.stdout));
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({ code: 'UNKNOWN_KEY', message: expect.stringContaining('not the shred store the payload was sealed with') });
  });

  it('the store down: 503 STORE_UNAVAILABLE with Retry-After, exit 4 in the CLI; back up, the same payloads decode', async () => {
    const sealed = await seal('customer-5', 'pii of customer 5');
    const outage = await setup.down();
    try {
      // Never decoded by the server, so nothing is cached: it needs the store.
      const res = await call('/decode', sealed);
      expect(res.status).toBe(503);
      expect(res.retryAfter).toBe('1');
      expect(res.body.error?.code).toBe('STORE_UNAVAILABLE');
      const cli = await runCli(['keys', 'shred', '--workflow', 'customer-6', '--shred-store', setup.location, '--yes', '--json']);
      expect(cli.code).toBe(4);
      expect(parseJson<{ error: { code: string } }>(cli.stderr).error.code).toBe('STORE_UNAVAILABLE');
    } finally {
      await outage.up();
    }
    await expect.poll(async () => (await call('/decode', sealed)).status, { timeout: 30_000, interval: 250 }).toBe(200);
    expect(text((await call('/decode', sealed)).body.payloads[0])).toBe('"pii of customer 5"');
  });
});
