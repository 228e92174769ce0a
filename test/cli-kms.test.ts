import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateAliasCommand, CreateKeyCommand, DisableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readKmsKeyConfig, watchKmsKeyConfig, type KmsKeyEntry } from '../keys/kms-key-config.js';
import { saveUsageScan } from '../keys/admin/usage-report.js';
import { startMoto, type Moto } from './cli-support/moto.js';
import { parseJson, runCli } from './cli-support/run-cli.js';

/**
 * `--provider aws-kms` against an AWS-compatible KMS endpoint on loopback (moto): the key config the
 * CLI keeps, KMS checks before a key becomes primary, and exit codes for KMS failures.
 */

const AWS_ENV = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' };

let moto: Moto;
let kms: KMSClient;
let dir: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'te-cli-kms-'));
  moto = await startMoto();
  kms = new KMSClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
});
afterAll(async () => {
  kms?.destroy();
  await moto?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

async function newKey(alias?: string): Promise<string> {
  const out = await kms.send(new CreateKeyCommand({ Description: 'temporal-envelope test' }));
  const arn = out.KeyMetadata?.Arn as string;
  if (alias !== undefined) await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: arn }));
  return arn;
}

const kmsArgs = (config: string) => ['--provider', 'aws-kms', '--key-config', config, '--kms-endpoint', moto.endpoint];
const cli = (args: string[], options: { input?: string } = {}) => runCli(args, { env: AWS_ENV, ...options });

describe('keys … --provider aws-kms', () => {
  it('init → rotate to an alias → list → retire with evidence; a running watcher sees each change', async () => {
    const config = path.join(dir, 'flow', 'kms-keys.yaml');
    const first = await newKey();
    const init = await cli(['keys', 'init', ...kmsArgs(config), '--kms-key', first, '--json']);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stderr).toBe(''); // no SDK warnings in the operator's face
    expect((await readKmsKeyConfig(config)).keys).toMatchObject([{ keyId: first, state: 'primary' }]);

    const seen: (readonly KmsKeyEntry[])[] = [];
    const watch = watchKmsKeyConfig(config, (keys) => seen.push(keys), { intervalMs: 50 });
    try {
      await newKey('alias/te-second');
      const rot = await cli(['keys', 'rotate', ...kmsArgs(config), '--new-key', 'alias/te-second', '--json']);
      expect(rot.code, rot.stderr).toBe(0);
      expect(parseJson<{ primary: { id: string }; previous: { id: string; state: string } }>(rot.stdout)).toMatchObject({
        primary: { id: 'alias/te-second' },
        previous: { id: first, state: 'decrypt-only' },
      });
      const end = Date.now() + 30_000;
      while (!seen.some((keys) => keys[0]?.keyId === 'alias/te-second')) {
        if (Date.now() > end) throw new Error('the watcher never saw the rotation');
        await new Promise((r) => setTimeout(r, 50));
      }

      const list = await cli(['keys', 'list', ...kmsArgs(config), '--json']);
      expect(parseJson<{ keys: { id: string; state: string; provider: string }[] }>(list.stdout).keys.map((k) => [k.id, k.state, k.provider])).toEqual([
        ['alias/te-second', 'primary', 'aws-kms'],
        [first, 'decrypt-only', 'aws-kms'],
      ]);

      const refused = await cli(['keys', 'retire', first, ...kmsArgs(config)]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('no usage report');

      // A clean scan taken now (after the demotion): the evidence `keys usage --save` would write.
      const now = new Date().toISOString();
      await saveUsageScan(`${config}.usage.json`, {
        address: '127.0.0.1:7233', namespace: 'default', query: '', since: null, until: null,
        startedAt: now, finishedAt: now, executions: 1, failedExecutions: 0, payloads: 1, unencrypted: 0,
        byKey: { 'alias/te-second': { payloads: 1, scopes: 1, shreddable: 0 } },
        schedules: { scanned: 0, failed: 0, payloads: 0, unencrypted: 0, byKey: {} },
      });
      const show = await cli(['keys', 'show', first, ...kmsArgs(config), '--json']);
      expect(parseJson<{ usage: { payloads: number }[] }>(show.stdout).usage).toEqual([expect.objectContaining({ payloads: 0 })]);

      const destroy = await cli(['keys', 'retire', first, ...kmsArgs(config), '--settle', '0', '--destroy', '--yes']);
      expect(destroy.code).toBe(2);
      expect(destroy.stderr).toContain('--destroy is refused for KMS keys');

      const retired = await cli(['keys', 'retire', first, ...kmsArgs(config), '--settle', '0']);
      expect(retired.code, retired.stderr).toBe(0);
      expect((await readKmsKeyConfig(config)).keys.map((k) => k.state)).toEqual(['primary', 'retired']);
      const endRetire = Date.now() + 30_000;
      while (!seen.some((keys) => keys[1]?.state === 'retired')) {
        if (Date.now() > endRetire) throw new Error('the watcher never saw the retirement');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      watch.close();
    }
  });

  it('checks a key with KMS before it becomes primary: not found (3), disabled (3), unreachable (4), bad id (2)', async () => {
    const config = path.join(dir, 'checks.json');
    expect((await cli(['keys', 'init', ...kmsArgs(config), '--kms-key', await newKey()])).code).toBe(0);
    const before = await fs.readFile(config, 'utf8');

    let r = await cli(['keys', 'rotate', ...kmsArgs(config), '--new-key', 'alias/does-not-exist', '--json']);
    expect(r.code).toBe(3);
    // The one KMS error mapping (keys/kms-errors.ts): a key KMS does not have is a permanent refusal.
    expect(parseJson<{ error: { code: string; message: string } }>(r.stderr).error).toMatchObject({ code: 'KMS_ACCESS_DENIED', message: expect.stringContaining('alias/does-not-exist') });
    expect(r.stderr).toContain('not found');

    const disabled = await newKey();
    // moto's DisableKey takes the bare key id, not the ARN.
    await kms.send(new DisableKeyCommand({ KeyId: disabled.split('/').pop() as string }));
    r = await cli(['keys', 'rotate', ...kmsArgs(config), '--new-key', disabled]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('is Disabled, not Enabled');

    r = await cli(['keys', 'rotate', '--provider', 'aws-kms', '--key-config', config, '--kms-endpoint', 'http://127.0.0.1:1', '--new-key', 'alias/any', '--json']);
    expect(r.code).toBe(4);
    expect(parseJson<{ error: { code: string } }>(r.stderr).error.code).toBe('KMS_UNAVAILABLE');

    r = await cli(['keys', 'rotate', ...kmsArgs(config), '--new-key', 'not a key']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--new-key "not a key" is not a KMS key ARN');

    r = await cli(['keys', 'rotate', ...kmsArgs(config)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--new-key <arn|alias> is required');

    r = await runCli(['keys', 'rotate', ...kmsArgs(config), '--new-key', 'alias/x'], { env: { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--region (or AWS_REGION) is required');

    // Nothing was changed by any failed rotation.
    expect(await fs.readFile(config, 'utf8')).toBe(before);
    const again = await cli(['keys', 'init', ...kmsArgs(config), '--kms-key', await newKey()]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists');
  });

  it('encode and decode --provider aws-kms: payloads sealed under a KMS key open again, also crypto-shreddable ones', async () => {
    const config = path.join(dir, 'codec-io.json');
    expect((await cli(['keys', 'init', ...kmsArgs(config), '--kms-key', await newKey()])).code).toBe(0);
    const input = JSON.stringify({ payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"kms secret"').toString('base64') }] });
    const sealed = await cli(['encode', ...kmsArgs(config), '-n', 'default', '-w', 'order-9'], { input });
    expect(sealed.code, sealed.stderr).toBe(0);
    expect(sealed.stdout).not.toContain(Buffer.from('"kms secret"').toString('base64'));
    const opened = await cli(['decode', ...kmsArgs(config), '-n', 'default', '-w', 'order-9'], { input: sealed.stdout });
    expect(opened.code, opened.stderr).toBe(0);
    expect(opened.stderr).toBe('');
    expect(Buffer.from(parseJson<{ payloads: { data: string }[] }>(opened.stdout).payloads[0]!.data, 'base64').toString()).toBe('"kms secret"');

    const store = path.join(dir, 'kms-shred-store');
    const shreddable = await cli(['encode', ...kmsArgs(config), '--shred-store', store, '-w', 'order-10'], { input });
    expect(shreddable.code, shreddable.stderr).toBe(0);
    const back = await cli(['decode', ...kmsArgs(config), '--shred-store', store], { input: shreddable.stdout });
    expect(back.code, back.stderr).toBe(0);
  });
});
