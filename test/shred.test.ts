import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Payload } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec } from '../codecs/envelope-codec.js';
import { KeyShreddedError } from '../primitives/errors.js';
import { peekScope } from '../primitives/format-versions.js';
import { makeScope } from '../primitives/scope.js';
import { newKeyringDocument } from '../keys/keyring-file.js';
import { LocalKeyring } from '../keys/local-keyring.js';
import { openKeyProviders } from '../keys/assemble.js';
import { FileScopeSecretStore } from '../keys/shred-store.js';
import { openScopeSecretStore } from '../keys/shred-store-options.js';
import { ShreddableKeyProvider, forgetShreddedScopes } from '../keys/shreddable-provider.js';
import { parseJson, runCli } from './cli-support/run-cli.js';
import { jsonPayload, text } from './support/payloads.js';

/**
 * Crypto-shredding: after `keys shred --workflow W`, W's payloads no longer open — for a fresh
 * process at once, for a running one once it sees the shred — while every other workflow's do,
 * with the same KEK and the same history bytes.
 */

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'te-shred-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const ctx = (workflowId: string, namespace = 'default') => ({ type: 'workflow' as const, namespace, workflowId });

function setup(name: string) {
  const doc = newKeyringDocument();
  const storeDir = path.join(dir, name, 'shred-store');
  const codec = (cache?: { decryptMaxAgeMs?: number }) =>
    new EnvelopeCodec({ keyProviders: new ShreddableKeyProvider(LocalKeyring.fromDocument(doc), new FileScopeSecretStore(storeDir)), ...(cache ? { cache } : {}) });
  return { doc, storeDir, codec };
}

async function shredViaCli(storeDir: string, workflowId: string, namespace = 'default') {
  const r = await runCli(['keys', 'shred', '--workflow', workflowId, '--namespace', namespace, '--shred-store', storeDir, '--yes', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return parseJson<{ before: string; shredded: string }>(r.stdout);
}

describe('keys shred', () => {
  it("makes one workflow's payloads unreadable while others still open", async () => {
    const { storeDir, codec } = setup('basic');
    const writer = codec();
    const [a] = await writer.encode([jsonPayload('alice')], ctx('customer-alice'));
    const [b] = await writer.encode([jsonPayload('bob')], ctx('customer-bob'));
    const [aOtherNs] = await writer.encode([jsonPayload('alice elsewhere')], ctx('customer-alice', 'billing'));
    expect(peekScope(a as Payload)?.keyId).toMatch(/^shred:local-1-/);

    const out = await shredViaCli(storeDir, 'customer-alice');
    expect(out.before).toBe('active');

    const reader = codec();
    await expect(reader.decode([a as Payload], ctx('customer-alice'))).rejects.toBeInstanceOf(KeyShreddedError);
    await expect(reader.decode([a as Payload])).rejects.toThrow(/workflow "customer-alice" in namespace "default" was crypto-shredded at/);
    expect(text((await reader.decode([b as Payload], ctx('customer-bob')))[0])).toBe('"bob"');
    // Same workflow id in another namespace is another scope.
    expect(text((await reader.decode([aOtherNs as Payload], ctx('customer-alice', 'billing')))[0])).toBe('"alice elsewhere"');

    // A shredded workflow gets no new payloads either: the tombstone blocks a fresh secret.
    await expect(reader.encode([jsonPayload('again')], ctx('customer-alice'))).rejects.toBeInstanceOf(KeyShreddedError);

    // Idempotent, and says so.
    expect((await shredViaCli(storeDir, 'customer-alice')).before).toBe('shredded');
  });

  it('a running codec forgets the shredded scope when it sees the shred log; without the watch only cache expiry does', async () => {
    const { storeDir, codec } = setup('running');
    const running = codec();
    const unwatched = codec();
    const [a] = await running.encode([jsonPayload('alice')], ctx('wf-a'));
    const [b] = await running.encode([jsonPayload('bob')], ctx('wf-b'));
    // Both codecs have the data key cached now.
    await running.decode([a as Payload], ctx('wf-a'));
    await unwatched.decode([a as Payload], ctx('wf-a'));
    const watch = forgetShreddedScopes(new FileScopeSecretStore(storeDir), running.keys, 50);
    try {
      await shredViaCli(storeDir, 'wf-a');
      const end = Date.now() + 30_000;
      let err: unknown;
      while (err === undefined && Date.now() < end) {
        err = await running.decode([a as Payload], ctx('wf-a')).then(
          () => undefined,
          (e: unknown) => e,
        );
        if (err === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      expect(err).toBeInstanceOf(KeyShreddedError);
      expect(text((await running.decode([b as Payload], ctx('wf-b')))[0])).toBe('"bob"');
      // The documented limit: a process that does not watch keeps its cached key until expiry.
      expect(text((await unwatched.decode([a as Payload], ctx('wf-a')))[0])).toBe('"alice"');
    } finally {
      watch.close();
    }
  });

  it('works through the CLI encode/decode with --shred-store (exit 3, KEY_SHREDDED)', async () => {
    const keyring = path.join(dir, 'cli', 'keyring.json');
    const storeDir = path.join(dir, 'cli', 'store');
    expect((await runCli(['keys', 'init', '--keyring', keyring])).code).toBe(0);
    const input = JSON.stringify({ payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"pii"').toString('base64') }] });
    const sealedA = await runCli(['encode', '--keyring', keyring, '--shred-store', storeDir, '-w', 'user-1'], { input });
    const sealedB = await runCli(['encode', '--keyring', keyring, '--shred-store', storeDir, '-w', 'user-2'], { input });
    expect(sealedA.code, sealedA.stderr).toBe(0);
    await shredViaCli(storeDir, 'user-1');
    const decA = await runCli(['decode', '--keyring', keyring, '--shred-store', storeDir, '--json'], { input: sealedA.stdout });
    expect(decA.code).toBe(3);
    expect(parseJson<{ error: { code: string } }>(decA.stderr).error.code).toBe('KEY_SHREDDED');
    expect(decA.stdout).toBe('');
    const decB = await runCli(['decode', '--keyring', keyring, '--shred-store', storeDir], { input: sealedB.stdout });
    expect(decB.code, decB.stderr).toBe(0);

    // Without the store, a shreddable payload cannot open at all: the store is part of the key.
    const noStore = await runCli(['decode', '--keyring', keyring], { input: sealedB.stdout });
    expect(noStore.code).toBe(3);
    expect(noStore.stderr).toContain('shred:local-1-');
    expect(noStore.stderr).toContain('also need --shred-store');
  });

  it('refuses without --yes when stdin is not a terminal, and names missing arguments', async () => {
    const storeDir = path.join(dir, 'args');
    let r = await runCli(['keys', 'shred', '--workflow', 'w', '--shred-store', storeDir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('pass --yes to confirm');
    r = await runCli(['keys', 'shred', '--shred-store', storeDir, '--yes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--workflow-id <id> is required');
    r = await runCli(['keys', 'shred', '--workflow', 'w', '--yes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--shred-store <location>');
    // Shredding a workflow that never had a secret leaves a tombstone and says what that means.
    r = await runCli(['keys', 'shred', '--workflow', 'never-seen', '--shred-store', storeDir, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('NOT shredded');
  });
});

describe('keys store init and --shred-store locations', () => {
  it('makes a file store\'s directory (0700), and names what is wrong with a location or a flag', async () => {
    const storeDir = path.join(dir, 'init', 'store');
    let r = await runCli(['keys', 'store', 'init', '--shred-store', storeDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`Created directory ${storeDir}.\n`);
    expect((await fs.stat(storeDir)).mode & 0o777).toBe(0o700);
    r = await runCli(['keys', 'store', 'init', '--shred-store', storeDir]);
    expect(r.stdout).toContain('already exists');

    const usage = async (args: string[], message: string | RegExp) => {
      const res = await runCli(args);
      expect(res.code, res.stderr).toBe(2);
      expect(res.stderr).toMatch(message);
      return res;
    };
    await usage(['keys', 'store', 'init'], '--shred-store <location> (or TEMPORAL_ENVELOPE_SHRED_STORE) is required');
    await usage(['keys', 'store', 'init', '--shred-store', storeDir, '--print'], '--print shows database definitions');
    await usage(['keys', 'store', 'init', '--shred-store', 'dynamodb://te-shred?region=eu-west-1', '--grant-to', 'app'], '--grant-to applies to a PostgreSQL shred store only');
    await usage(['keys', 'store', 'init', '--shred-store', 'postgres://a@b/c', '--grant-to', 'App"; DROP', '--print'], '--grant-to expected a lowercase role name');
    await usage(['keys', 'shred', '--workflow', 'w', '--yes', '--shred-store', 'dynamodb://te-shred'], /needs a region/);
    const leak = await usage(['decode', '--shred-store', 'mysql://u:hunter2@db/x'], /unknown scheme "mysql:\/\/"/);
    expect(leak.stderr).not.toContain('hunter2');
    // The region can come from --region (or AWS_REGION), as for KMS.
    r = await runCli(['keys', 'store', 'init', '--shred-store', 'dynamodb://te-shred', '--print', '--json'], { env: { AWS_REGION: 'eu-west-1' } });
    expect(r.code, r.stderr).toBe(0);
    expect(parseJson<{ dynamodb: { TableName: string; KeySchema: unknown[] } }>(r.stdout).dynamodb).toMatchObject({ TableName: 'te-shred', KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }] });
  });
});

describe('shred store options', () => {
  it('openKeyProviders and openScopeSecretStore check them before connecting, naming the field', async () => {
    const keyring = path.join(dir, 'options', 'keyring.json');
    expect((await runCli(['keys', 'init', '--keyring', keyring])).code).toBe(0);
    const bad: [unknown, RegExp][] = [
      [{ type: 'dynamodb', table: 'te-shred' }, /shredStore\.region/],
      [{ type: 'dynamodb', table: 'x', region: 'r' }, /shredStore\.table: expected a DynamoDB table name/],
      [{ type: 'postgres' }, /shredStore\.connectionString: a postgres shred store needs exactly one of/],
      [{ type: 'postgres', connectionString: 'postgres://a@b/c', schema: 'x; DROP' }, /shredStore\.schema/],
      [{ type: 's3', path: '/x' }, /shredStore\.type/],
      ['dynamodb://te-shred', /needs a region/],
    ];
    for (const [shredStore, message] of bad) {
      await expect(openKeyProviders({ local: { path: keyring }, watchIntervalMs: 0, shredStore: shredStore as string })).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(message) });
      await expect(openScopeSecretStore(shredStore as string)).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    }
    // The plain { path } form and a directory string are the file store; a connection string file must be readable.
    expect(await openScopeSecretStore({ path: path.join(dir, 'options', 'a') })).toBeInstanceOf(FileScopeSecretStore);
    expect(await openScopeSecretStore(path.join(dir, 'options', 'b'))).toBeInstanceOf(FileScopeSecretStore);
    await expect(openScopeSecretStore({ type: 'postgres', connectionStringFile: path.join(dir, 'options', 'missing') })).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: expect.stringContaining('"connectionStringFile"'),
    });
  });

  it.each([
    [{ code: 'ECONNREFUSED' }, 'STORE_UNAVAILABLE'],
    [{ code: 'EPIPE' }, 'STORE_UNAVAILABLE'],
    [{ code: '57P01', message: 'terminating connection due to administrator command' }, 'STORE_UNAVAILABLE'],
    [{ code: '57P03', message: 'the database system is starting up' }, 'STORE_UNAVAILABLE'],
    [{ code: '53300', message: 'too many connections' }, 'STORE_UNAVAILABLE'],
    [{ code: '40001', message: 'could not serialize access' }, 'STORE_UNAVAILABLE'],
    [{ code: '57014', message: 'canceling statement due to statement timeout' }, 'STORE_UNAVAILABLE'],
    [{ message: 'timeout exceeded when trying to connect' }, 'STORE_UNAVAILABLE'],
    [{ message: 'Connection terminated unexpectedly' }, 'STORE_UNAVAILABLE'],
    [{ message: 'something nobody explained' }, 'STORE_UNAVAILABLE'],
    [{ code: '42P01', message: 'relation does not exist' }, 'KEYRING_ERROR'],
    [{ code: '42501', message: 'permission denied' }, 'KEYRING_ERROR'],
    [{ code: '28P01', message: 'password authentication failed' }, 'KEYRING_ERROR'],
    [{ code: '3D000', message: 'database does not exist' }, 'KEYRING_ERROR'],
    [{ code: '23514', message: 'check constraint' }, 'KEYRING_ERROR'],
  ] as [{ code?: string; message?: string }, string][])('a PostgreSQL failure %j is %s', async (failure, code) => {
    const { mapPostgresError } = await import('../keys/postgres-shred-store.js');
    const err = mapPostgresError(Object.assign(new Error(failure.message ?? ''), failure), 'store: op');
    expect(err).toMatchObject({ code, retryable: code === 'STORE_UNAVAILABLE' });
  });

  it('a PostgreSQL store names its server without the password', async () => {
    const store = await openScopeSecretStore('postgres://te_app:s3cret-pw@db.internal:6432/app?schema=te_shred&sslmode=disable');
    try {
      expect(store.description).toBe('PostgreSQL shred store db.internal:6432/app schema te_shred');
    } finally {
      await store.close?.();
    }
  });
});

describe('FileScopeSecretStore', () => {
  it('keeps secrets in 0600 files named by hash, never by workflow id, and overwrites them on shred', async () => {
    const storeDir = path.join(dir, 'store-files');
    const store = new FileScopeSecretStore(storeDir);
    const scope = makeScope('default', '../../etc/passwd');
    const secret = await store.getOrCreate(scope);
    expect(secret).toHaveLength(32);
    expect((await fs.stat(storeDir)).mode & 0o777).toBe(0o700);
    const files = (await fs.readdir(storeDir)).filter((f) => f.endsWith('.json'));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^[0-9a-f]{64}\.json$/);
    const file = path.join(storeDir, files[0] as string);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(await fs.readFile(file, 'utf8')).toContain(Buffer.from(secret).toString('base64'));

    await store.shred(scope);
    const tomb = await fs.readFile(file, 'utf8');
    expect(tomb).not.toContain(Buffer.from(secret).toString('base64'));
    expect(JSON.parse(tomb)).toMatchObject({ workflowId: '../../etc/passwd', shredded: expect.any(String) });
    expect(await store.status(scope)).toMatchObject({ state: 'shredded' });
  });

  it('agrees on one secret when many callers create it at once', async () => {
    const storeDir = path.join(dir, 'store-race');
    const secrets = await Promise.all(Array.from({ length: 20 }, () => new FileScopeSecretStore(storeDir).getOrCreate(makeScope('ns', 'same'))));
    const distinct = new Set(secrets.map((s) => Buffer.from(s).toString('hex')));
    expect(distinct.size).toBe(1);
    expect((await fs.readdir(storeDir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('still opens payloads sealed before shredding was turned on', async () => {
    const doc = newKeyringDocument();
    const plain = new EnvelopeCodec({ keyProviders: LocalKeyring.fromDocument(doc) });
    const [old] = await plain.encode([jsonPayload('legacy')], ctx('wf'));
    const shreddable = new EnvelopeCodec({
      keyProviders: new ShreddableKeyProvider(LocalKeyring.fromDocument(doc), new FileScopeSecretStore(path.join(dir, 'legacy'))),
    });
    expect(text((await shreddable.decode([old as Payload], ctx('wf')))[0])).toBe('"legacy"');
  });
});
