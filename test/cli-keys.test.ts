import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readKeyring } from '../keys/keyring-file.js';
import { saveUsageScan, type UsageScan } from '../keys/admin/usage-report.js';
import { parseJson, runCli } from './cli-support/run-cli.js';

/**
 * The key-management commands against real keyring files, through a real `temporal-envelope`
 * subprocess: exit codes, --json output, refusal rules and error messages are what operators and
 * scripts rely on.
 */

interface KeyRow {
  id: string;
  state: string;
  version: number;
  created: string;
  demoted?: string;
  destroyed: boolean;
}

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'te-cli-keys-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const payloadJson = (text: string) =>
  JSON.stringify({ payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from(JSON.stringify(text)).toString('base64') }] });

function keyIdOf(sealed: string): string {
  const doc = parseJson<{ payloads: { metadata: Record<string, string> }[] }>(sealed);
  return Buffer.from(doc.payloads[0]?.metadata['encryption-key-id'] ?? '', 'base64').toString('utf8');
}

async function list(keyring: string): Promise<KeyRow[]> {
  const r = await runCli(['keys', 'list', '--keyring', keyring, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return parseJson<{ keys: KeyRow[] }>(r.stdout).keys;
}

function emptyScan(over: Partial<UsageScan> = {}): UsageScan {
  const now = new Date().toISOString();
  return {
    address: '127.0.0.1:7233',
    namespace: 'default',
    query: '',
    since: null,
    until: null,
    startedAt: now,
    finishedAt: now,
    executions: 3,
    failedExecutions: 0,
    payloads: 6,
    unencrypted: 0,
    byKey: {},
    schedules: { scanned: 2, failed: 0, payloads: 0, unencrypted: 0, byKey: {} },
    ...over,
  };
}

describe('keys init / list / show / rotate', () => {
  it('creates a keyring, lists it, rotates it, and old payloads keep decrypting', async () => {
    const keyring = path.join(dir, 'flow', 'keyring.json');
    const init = await runCli(['keys', 'init', '--keyring', keyring, '--json']);
    expect(init.code, init.stderr).toBe(0);
    const created = parseJson<{ keyring: string; key: KeyRow }>(init.stdout);
    expect(created.key.state).toBe('primary');
    expect((await fs.stat(keyring)).mode & 0o777).toBe(0o600);
    // Key material never reaches stdout.
    const doc = await readKeyring(keyring);
    expect(init.stdout).not.toContain(doc.keys[0]?.material);

    const again = await runCli(['keys', 'init', '--keyring', keyring]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists; refusing to overwrite/);

    const sealedV1 = await runCli(['encode', '--keyring', keyring, '--workflow-id', 'order-1'], { input: payloadJson('first') });
    expect(sealedV1.code, sealedV1.stderr).toBe(0);
    expect(keyIdOf(sealedV1.stdout)).toBe(created.key.id);

    const rot = await runCli(['keys', 'rotate', '--keyring', keyring, '--json']);
    expect(rot.code, rot.stderr).toBe(0);
    const rotated = parseJson<{ primary: KeyRow; previous: { id: string } }>(rot.stdout);
    expect(rotated.previous.id).toBe(created.key.id);
    expect(rotated.primary.version).toBe(2);

    const keys = await list(keyring);
    expect(keys.map((k) => [k.id, k.state])).toEqual([
      [created.key.id, 'decrypt-only'],
      [rotated.primary.id, 'primary'],
    ]);
    expect(keys[0]?.demoted).toBe(rotated.primary.created);

    const table = await runCli(['keys', 'list', '--keyring', keyring]);
    expect(table.stdout).toMatch(/^ID\s+VERSION\s+STATE\s+CREATED\s+PROVIDER/);
    expect(table.stdout).toContain(`${created.key.id}  1        decrypt-only`);

    const sealedV2 = await runCli(['encode', '--keyring', keyring, '--workflow-id', 'order-2'], { input: payloadJson('second') });
    expect(keyIdOf(sealedV2.stdout)).toBe(rotated.primary.id);

    for (const [sealed, text] of [
      [sealedV1.stdout, 'first'],
      [sealedV2.stdout, 'second'],
    ] as const) {
      const dec = await runCli(['decode', '--keyring', keyring], { input: sealed });
      expect(dec.code, dec.stderr).toBe(0);
      const out = parseJson<{ payloads: { data: string }[] }>(dec.stdout);
      expect(JSON.parse(Buffer.from(out.payloads[0]?.data ?? '', 'base64').toString('utf8'))).toBe(text);
    }

    const show = await runCli(['keys', 'show', created.key.id, '--keyring', keyring, '--json']);
    expect(show.code, show.stderr).toBe(0);
    expect(parseJson<{ key: KeyRow; usage: unknown[] }>(show.stdout)).toMatchObject({ key: { id: created.key.id, state: 'decrypt-only', destroyed: false }, usage: [] });
    const showText = await runCli(['keys', 'show', created.key.id, '--keyring', keyring]);
    expect(showText.stdout).toMatch(/state:\s+decrypt-only/);
    expect(showText.stdout).toMatch(/material:\s+present/);
  });

  it('serialises concurrent rotations: no version is lost', async () => {
    const keyring = path.join(dir, 'concurrent.json');
    expect((await runCli(['keys', 'init', '--keyring', keyring])).code).toBe(0);
    const results = await Promise.all([1, 2, 3].map(() => runCli(['keys', 'rotate', '--keyring', keyring, '--json'])));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const keys = await list(keyring);
    expect(keys.map((k) => k.version)).toEqual([1, 2, 3, 4]);
    expect(keys.filter((k) => k.state === 'primary')).toHaveLength(1);
    expect(new Set(keys.map((k) => k.id)).size).toBe(4);
  });
});

describe('keys retire', () => {
  async function rotatedKeyring(name: string) {
    const keyring = path.join(dir, `${name}.json`);
    expect((await runCli(['keys', 'init', '--keyring', keyring])).code).toBe(0);
    const sealed = await runCli(['encode', '--keyring', keyring, '--namespace', 'default', '--workflow-id', 'w1'], { input: payloadJson('old') });
    expect((await runCli(['keys', 'rotate', '--keyring', keyring])).code).toBe(0);
    const [old, primary] = await list(keyring);
    return { keyring, old: old as KeyRow, primary: primary as KeyRow, sealed: sealed.stdout };
  }

  it('refuses without usage evidence, names what is missing, and --force overrides', async () => {
    const { keyring, old } = await rotatedKeyring('no-evidence');
    const r = await runCli(['keys', 'retire', old.id, '--keyring', keyring]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`refusing to retire ${old.id}`);
    expect(r.stderr).toContain('no usage report');
    expect(r.stderr).toContain('keys usage --save');
    expect((await list(keyring))[0]?.state).toBe('decrypt-only');

    const json = await runCli(['keys', 'retire', old.id, '--keyring', keyring, '--json']);
    expect(json.code).toBe(1);
    expect(parseJson<{ error: { code: string; exitCode: number } }>(json.stderr).error).toMatchObject({ code: 'KEY_MAY_BE_IN_USE', exitCode: 1 });

    const forced = await runCli(['keys', 'retire', old.id, '--keyring', keyring, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain('forced');
    expect((await list(keyring))[0]?.state).toBe('retired');
  });

  it('refuses while a scan found payloads, or when the scan is stale, incomplete or too early', async () => {
    const { keyring, old } = await rotatedKeyring('in-use');
    const report = `${keyring}.usage.json`;
    const later = new Date(Date.parse(old.demoted as string) + 1000).toISOString();
    await saveUsageScan(report, emptyScan({ startedAt: later, byKey: { [old.id]: { payloads: 4, scopes: 2, shreddable: 0 } } }));
    let r = await runCli(['keys', 'retire', old.id, '--keyring', keyring, '--settle', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`found 4 payload(s) wrapped by ${old.id}`);

    await saveUsageScan(report, emptyScan({ startedAt: later, failedExecutions: 1 }));
    r = await runCli(['keys', 'retire', old.id, '--keyring', keyring, '--settle', '0']);
    expect(r.stderr).toContain('incomplete');

    await saveUsageScan(report, emptyScan({ startedAt: later, finishedAt: '2020-01-01T00:00:00.000Z' }));
    r = await runCli(['keys', 'retire', old.id, '--keyring', keyring, '--settle', '0']);
    expect(r.stderr).toContain('--max-report-age');

    await saveUsageScan(report, emptyScan({ startedAt: later, since: new Date(Date.now() + 60_000).toISOString() }));
    r = await runCli(['keys', 'retire', old.id, '--keyring', keyring, '--settle', '0']);
    expect(r.stderr).toContain('after the key was created');

    // Schedules: one that still holds the key, one that could not be read, a scan that never looked.
    await saveUsageScan(
      report,
      emptyScan({
        startedAt: later,
        byKey: { [old.id]: { payloads: 3, scopes: 1, shreddable: 0 } },
        schedules: { scanned: 2, failed: 0, payloads: 3, unencrypted: 0, byKey: { [old.id]: { payloads: 3, schedules: ['nightly-report'] } } },
      }),
    );
    r = await runCli(['keys', 'retire', old.id, '--keyring', keyring, '--settle', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('found 3 of them in schedule(s) "nightly-report", which every future run needs: "temporal-envelope keys reseal-schedules"');
    await saveUsageScan(report, emptyScan({ startedAt: later, schedules: { scanned: 1, failed: 1, payloads: 0, unencrypted: 0, byKey: {} } }));
    r = await runCli(['keys', 'retire', old.id, '--keyring', keyring, '--settle', '0']);
    expect(r.stderr).toContain('1 schedule(s) could not be read');
    await saveUsageScan(report, emptyScan({ startedAt: later, schedules: undefined }));
    r = await runCli(['keys', 'retire', old.id, '--keyring', keyring, '--settle', '0']);
    expect(r.stderr).toContain("did not read the namespace's schedules");

    // A scan that started before workers could have switched keys proves nothing.
    await saveUsageScan(report, emptyScan({ startedAt: later }));
    r = await runCli(['keys', 'retire', old.id, '--keyring', keyring, '--settle', '1h']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('plus --settle');
    expect((await list(keyring))[0]?.state).toBe('decrypt-only');
  });

  it('retires with a clean scan; the retired key then refuses to decrypt (exit 3)', async () => {
    const { keyring, old, sealed } = await rotatedKeyring('clean');
    await saveUsageScan(`${keyring}.usage.json`, emptyScan({ startedAt: new Date(Date.parse(old.demoted as string) + 1000).toISOString() }));
    const r = await runCli(['keys', 'retire', old.id, '--keyring', keyring, '--settle', '0']);
    expect(r.code, r.stderr).toBe(0);
    expect((await list(keyring))[0]?.state).toBe('retired');

    const dec = await runCli(['decode', '--keyring', keyring, '--json'], { input: sealed });
    expect(dec.code).toBe(3);
    expect(parseJson<{ error: { code: string } }>(dec.stderr).error.code).toBe('KEY_RETIRED');
    expect(dec.stdout).toBe('');
  });

  it('--destroy needs --yes without a terminal, then deletes the material', async () => {
    const { keyring, old, primary } = await rotatedKeyring('destroy');
    const noYes = await runCli(['keys', 'retire', old.id, '--keyring', keyring, '--force', '--destroy']);
    expect(noYes.code).toBe(2);
    expect(noYes.stderr).toContain('pass --yes to confirm');
    expect((await readKeyring(keyring)).keys[0]?.material).toBeDefined();

    const yes = await runCli(['keys', 'retire', old.id, '--keyring', keyring, '--force', '--destroy', '--yes']);
    expect(yes.code, yes.stderr).toBe(0);
    const doc = await readKeyring(keyring);
    expect(doc.keys[0]?.material).toBeUndefined();
    expect(doc.keys[0]?.state).toBe('retired');
    expect((await list(keyring))[0]?.destroyed).toBe(true);

    const primaryRetire = await runCli(['keys', 'retire', primary.id, '--keyring', keyring, '--force']);
    expect(primaryRetire.code).toBe(1);
    expect(primaryRetire.stderr).toContain('is the primary; rotate first');

    const unknown = await runCli(['keys', 'retire', 'local-9-nothere', '--keyring', keyring, '--force']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('"local-9-nothere" is not in keyring');
  });
});

describe('errors name the bad argument and map to documented exit codes', () => {
  it('usage errors exit 2', async () => {
    let r = await runCli(['keys', 'list', '--keyring']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("option '--keyring <path>' argument missing");

    r = await runCli(['keys', 'list', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--frobnicate'");

    r = await runCli(['keys', 'retire', 'x', '--max-report-age', 'soon']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("option '--max-report-age <duration>' argument 'soon' is invalid");

    r = await runCli(['keys', 'list', '--provider', 'gcp']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("argument 'gcp' is invalid. Allowed choices are local, aws-kms");

    r = await runCli(['keys', 'show']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("missing required argument 'id'");

    r = await runCli(['keys', 'usage', '--address', 'no-port', '--json']);
    expect(r.code).toBe(2);
    expect(parseJson<{ error: { code: string; message: string } }>(r.stderr).error.message).toContain('--address "no-port" expected host:port');

    r = await runCli(['keys', 'list', '--frobnicate', '--json']);
    expect(r.code).toBe(2);
    expect(parseJson<{ error: { code: string } }>(r.stderr).error.code).toBe('USAGE');
  });

  it('missing, corrupt or world-readable keyrings fail with a message naming the file (exit 1)', async () => {
    const missing = path.join(dir, 'missing.json');
    let r = await runCli(['keys', 'list', '--keyring', missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`keyring ${missing} does not exist; create it with "temporal-envelope keys init"`);

    const corrupt = path.join(dir, 'corrupt.json');
    await fs.writeFile(corrupt, '{"format": "nope"', { mode: 0o600 });
    r = await runCli(['keys', 'list', '--keyring', corrupt]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is not valid JSON');

    const open = path.join(dir, 'open.json');
    expect((await runCli(['keys', 'init', '--keyring', open])).code).toBe(0);
    await fs.chmod(open, 0o644);
    r = await runCli(['keys', 'rotate', '--keyring', open]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('chmod 600');

    // The environment variable names the keyring too.
    r = await runCli(['keys', 'list'], { env: { TEMPORAL_ENVELOPE_KEYRING: missing } });
    expect(r.stderr).toContain(missing);
  });

  it('decode: tampered payloads and wrong scopes are key errors (exit 3), bad JSON is a usage error (exit 2)', async () => {
    const keyring = path.join(dir, 'decode.json');
    expect((await runCli(['keys', 'init', '--keyring', keyring])).code).toBe(0);
    const sealed = (await runCli(['encode', '--keyring', keyring, '-n', 'billing', '-w', 'inv-7'], { input: payloadJson('secret') })).stdout;
    const sealedFile = path.join(dir, 'sealed.json');
    await fs.writeFile(sealedFile, sealed);

    const ok = await runCli(['decode', '--keyring', keyring, '--in', sealedFile, '-n', 'billing', '-w', 'inv-7', '--out', path.join(dir, 'plain.json')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('');
    expect((await fs.stat(path.join(dir, 'plain.json'))).mode & 0o777).toBe(0o600);

    const wrongScope = await runCli(['decode', '--keyring', keyring, '--in', sealedFile, '-n', 'billing', '-w', 'inv-8']);
    expect(wrongScope.code).toBe(3);
    expect(wrongScope.stderr).toContain('cannot be decoded in workflow "inv-8"');

    const doc = parseJson<{ payloads: { data: string }[] }>(sealed);
    const data = Buffer.from(doc.payloads[0]?.data ?? '', 'base64');
    data[data.length - 1] = (data[data.length - 1] ?? 0) ^ 1;
    (doc.payloads[0] as { data: string }).data = data.toString('base64');
    const tampered = await runCli(['decode', '--keyring', keyring, '--json'], { input: JSON.stringify(doc) });
    expect(tampered.code).toBe(3);
    expect(parseJson<{ error: { code: string } }>(tampered.stderr).error.code).toBe('TAMPERED_CIPHERTEXT');
    expect(tampered.stdout).toBe('');
    expect(tampered.stderr).not.toContain('secret');

    for (const input of ['not json', '{"payloads": 3}', '{"payloads":[{"data":"%%%"}]}']) {
      const bad = await runCli(['decode', '--keyring', keyring], { input });
      expect(bad.code, input).toBe(2);
      expect(bad.stderr).toMatch(/stdin/);
    }
    const noFile = await runCli(['encode', '--keyring', keyring, '--in', path.join(dir, 'nope.json')]);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain('--in');
  });
});
