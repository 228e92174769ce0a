import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rotateLocalKeyring } from '../keys/admin/rotation.js';
import { readUsageReport } from '../keys/admin/usage-report.js';
import { newKeyringDocument, readKeyring } from '../keys/keyring-file.js';
import { readKmsKeyConfig } from '../keys/kms-key-config.js';
import { FileScopeSecretStore } from '../keys/shred-store.js';
import { makeScope } from '../primitives/scope.js';

/** Every key file is read the same way (keys/file-schema.ts): a KeyringError naming the file and each bad field. */

const INSTANT = 'expected an ISO-8601 instant like 2026-11-24T10:00:00.000Z';
const dir = mkdtempSync(path.join(tmpdir(), 'te-key-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, value: unknown) => {
  const file = path.join(dir, name);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value), { mode: 0o600 });
  return file;
};

describe('key files', () => {
  it('name the file and every bad field', async () => {
    const ring = newKeyringDocument();
    const badRing = write('keyring.json', { ...ring, keys: [{ ...ring.keys[0], material: 'c2hvcnQ=' }] });
    await expect(readKeyring(badRing)).rejects.toMatchObject({ code: 'KEYRING_ERROR', message: `keyring ${badRing}: keys.0.material: expected base64 of 32 bytes, got 5` });

    const kms = write('kms.yaml', 'format: temporal-envelope-kms-keys/v1\nkeys:\n  - { keyId: alias/a, state: primary, added: 2026-01-01T00:00:00Z }\n  - { keyId: alias/b, state: primary, added: yesterday }\n');
    await expect(readKmsKeyConfig(kms)).rejects.toThrow(`key config ${kms}: keys.1.added: ${INSTANT}; keys.1.state: the first key, and only the first, must be "primary"`);
    await expect(readKmsKeyConfig(write('kms.json', '{"format": '))).rejects.toThrow(/kms\.json is not valid JSON/);

    const report = write('report.json', { format: 'temporal-envelope-usage/v1', scans: [{ address: 'a:1', namespace: 'n', query: '', since: null, until: null, startedAt: 'x', finishedAt: new Date().toISOString(), executions: -1, failedExecutions: 0, payloads: 0, unencrypted: 0, byKey: {} }] });
    await expect(readUsageReport(report)).rejects.toThrow(`usage report ${report}: scans.0.startedAt: ${INSTANT}; scans.0.executions: Too small`);

    const store = new FileScopeSecretStore(path.join(dir, 'store'));
    const scope = makeScope('default', 'wf');
    await store.getOrCreate(scope);
    writeFileSync(store.fileFor(scope), JSON.stringify({ format: 'temporal-envelope-scope-secret/v1', namespace: 'default', workflowId: 'wf', created: 'x', secret: 'AAAA' }));
    await expect(store.get(scope)).rejects.toThrow(`secret file for workflow "wf" in namespace "default": created: ${INSTANT}; secret: expected base64 of 32 bytes, got 3`);
  });

  // Issue 15, item 10: what the checks used to let through.
  const material = Buffer.alloc(32, 7).toString('base64'); // "BwcH…BwcHBwc=": canonical
  const ringWith = (entry: Record<string, unknown>) => {
    const doc = newKeyringDocument();
    return { ...doc, keys: [{ ...doc.keys[0], ...entry }] };
  };

  it('take key material only as canonical base64 of 32 bytes: nothing the decoder would skip', async () => {
    expect(Buffer.from(material, 'base64')).toHaveLength(32);
    await expect(readKeyring(write('canonical.json', ringWith({ material })))).resolves.toBeDefined();
    const junk: [string, string][] = [
      ['a line break inside', `${material.slice(0, 20)}\n${material.slice(20)}`],
      ['spaces inside', `${material.slice(0, 20)}  ${material.slice(20)}`],
      ['a stray character', `${material.slice(0, 20)}!${material.slice(20)}`],
      ['no padding', material.replace(/=+$/, '')],
      ['the base64url alphabet', Buffer.alloc(32, 0xfb).toString('base64url')],
      ['bits set past the last byte', `${material.slice(0, 42)}d=`],
      ['text after the padding', `${material}AAAA`],
    ];
    for (const [why, value] of junk) {
      expect(Buffer.from(value, 'base64').length, why).toBe(32); // all the old check measured
      const file = write('junk.json', ringWith({ material: value }));
      await expect(readKeyring(file), why).rejects.toThrow(`keyring ${file}: keys.0.material: expected canonical base64 of 32 bytes (standard alphabet, = padding, no whitespace or other characters)`);
    }
    // The shred store's secrets follow the same rule.
    const store = new FileScopeSecretStore(path.join(dir, 'store-junk'));
    const scope = makeScope('default', 'wf');
    await store.getOrCreate(scope);
    writeFileSync(store.fileFor(scope), JSON.stringify({ format: 'temporal-envelope-scope-secret/v1', namespace: 'default', workflowId: 'wf', created: new Date().toISOString(), secret: ` ${material}` }));
    await expect(store.get(scope)).rejects.toThrow(/secret: expected canonical base64 of 32 bytes/);
  });

  it('take times only as ISO-8601 instants: created, retired, added, demoted', async () => {
    for (const ok of ['2026-11-24T10:00:00.000Z', '2026-11-24T10:00:00Z', '2024-02-29T23:59:59.123456789+05:30', '2026-11-24T10:00:00-08:00']) {
      await expect(readKeyring(write('time-ok.json', ringWith({ created: ok }))), ok).resolves.toBeDefined();
    }
    const bad = ['yesterday', '', '2026', '2026-11-24', '2026-11-24 10:00:00Z', '2026-11-24T10:00:00', '2026-02-30T00:00:00Z', '2025-02-29T00:00:00Z', '2026-11-24T24:00:00Z', '2026-11-24T10:60:00Z', '2026-11-24T10:00:00+25:00', 'Tue, 24 Nov 2026 10:00:00 GMT', '2026-11-24t10:00:00z', '+2026-11-24T10:00:00Z'];
    for (const created of bad) {
      const file = write('time-bad.json', ringWith({ created }));
      await expect(readKeyring(file), created).rejects.toThrow(`keyring ${file}: keys.0.created: ${INSTANT}`);
    }
    await expect(readKeyring(write('time-num.json', ringWith({ created: 1764000000000 })))).rejects.toThrow(/keys\.0\.created: /);
    const retired = write('retired-bad.json', { format: 'temporal-envelope-keyring/v1', keys: [newKeyringDocument().keys[0], { id: 'local-0-old', version: 2, state: 'retired', created: '2026-01-01T00:00:00Z', retired: 'last week' }] });
    await expect(readKeyring(retired)).rejects.toThrow(`keys.1.retired: ${INSTANT}`);
    const kms = write('kms-date.json', { format: 'temporal-envelope-kms-keys/v1', keys: [{ keyId: 'alias/a', state: 'primary', added: '2026-01-01' }, { keyId: 'alias/b', state: 'decrypt-only', added: '2025-01-01T00:00:00Z', demoted: '2026-13-01T00:00:00Z' }] });
    await expect(readKmsKeyConfig(kms)).rejects.toThrow(`key config ${kms}: keys.0.added: ${INSTANT}; keys.1.demoted: ${INSTANT}`);
  });

  it('call a directory at the path a directory, not a permissions problem', async () => {
    const ringDir = path.join(dir, 'a-directory.json');
    mkdirSync(ringDir, { mode: 0o755 });
    await expect(readKeyring(ringDir)).rejects.toMatchObject({ code: 'KEYRING_ERROR', message: `keyring ${ringDir} is a directory, expected a keyring file` });
    await expect(readKmsKeyConfig(ringDir)).rejects.toMatchObject({ code: 'KEYRING_ERROR', message: `key config ${ringDir} is a directory, expected a key config file` });
    const store = new FileScopeSecretStore(path.join(dir, 'store-dir'));
    const scope = makeScope('default', 'wf-dir');
    mkdirSync(store.fileFor(scope), { recursive: true });
    await expect(store.get(scope)).rejects.toThrow(`shred store ${store.dir}: secret file for workflow "wf-dir" in namespace "default" is a directory, expected a secret file`);
  });

  it('ignore a UTF-8 byte order mark at the start, and mention it only when the file does not parse anyway', async () => {
    const BOM = '\uFEFF';
    const doc = newKeyringDocument();
    const ring = write('bom.json', `${BOM}${JSON.stringify(doc, null, 2)}\n`);
    expect(readFileSync(ring).subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    expect((await readKeyring(ring)).keys[0]!.id).toBe(doc.keys[0]!.id);
    const broken = write('bom-broken.json', `${BOM}{ "format": `);
    await expect(readKeyring(broken)).rejects.toThrow(`keyring ${broken} is not valid JSON (after the UTF-8 byte order mark at its start, which is ignored)`);
    const plainBroken = write('broken.json', '{ "format": ');
    await expect(readKeyring(plainBroken)).rejects.toThrow(new RegExp(`^keyring ${plainBroken} is not valid JSON$`));
    // A mark anywhere else is content, and wrong there.
    await expect(readKeyring(write('bom-twice.json', `${BOM}${BOM}${JSON.stringify(doc)}`))).rejects.toThrow(/is not valid JSON \(after the UTF-8 byte order mark/);

    const kmsYaml = write('kms-bom.yaml', `${BOM}format: temporal-envelope-kms-keys/v1\nkeys:\n  - { keyId: alias/a, state: primary, added: 2026-01-01T00:00:00Z }\n`);
    await expect(readKmsKeyConfig(kmsYaml)).resolves.toMatchObject({ keys: [{ keyId: 'alias/a' }] });
    const kmsJson = write('kms-bom.json', `${BOM}${JSON.stringify({ format: 'temporal-envelope-kms-keys/v1', keys: [{ keyId: 'alias/a', state: 'primary', added: '2026-01-01T00:00:00Z' }] })}`);
    await expect(readKmsKeyConfig(kmsJson)).resolves.toMatchObject({ keys: [{ keyId: 'alias/a' }] });
  });

  it('keep fields they do not know through a rotation (a newer version wrote them)', async () => {
    const doc = { ...newKeyringDocument(), note: 'kept' };
    const file = write('newer.json', doc);
    await rotateLocalKeyring(file);
    const after = JSON.parse(readFileSync(file, 'utf8')) as { note?: string; keys: unknown[] };
    expect(after.note).toBe('kept');
    expect(after.keys).toHaveLength(2);
  });
});
