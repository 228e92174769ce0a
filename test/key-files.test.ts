import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    await expect(readKeyring(badRing)).rejects.toMatchObject({ code: 'KEYRING_ERROR', message: `keyring ${badRing}: keys.0.material: expected base64 of 32 bytes` });

    const kms = write('kms.yaml', 'format: temporal-envelope-kms-keys/v1\nkeys:\n  - { keyId: alias/a, state: primary, added: 2026-01-01T00:00:00Z }\n  - { keyId: alias/b, state: primary, added: yesterday }\n');
    await expect(readKmsKeyConfig(kms)).rejects.toThrow(`key config ${kms}: keys.1.added: expected an ISO date string; keys.1.state: the first key, and only the first, must be "primary"`);
    await expect(readKmsKeyConfig(write('kms.json', '{"format": '))).rejects.toThrow(/kms\.json is not valid JSON/);

    const report = write('report.json', { format: 'temporal-envelope-usage/v1', scans: [{ address: 'a:1', namespace: 'n', query: '', since: null, until: null, startedAt: 'x', finishedAt: new Date().toISOString(), executions: -1, failedExecutions: 0, payloads: 0, unencrypted: 0, byKey: {} }] });
    await expect(readUsageReport(report)).rejects.toThrow(`usage report ${report}: scans.0.startedAt: expected an ISO date string; scans.0.executions: Too small`);

    const store = new FileScopeSecretStore(path.join(dir, 'store'));
    const scope = makeScope('default', 'wf');
    await store.getOrCreate(scope);
    writeFileSync(store.fileFor(scope), JSON.stringify({ format: 'temporal-envelope-scope-secret/v1', namespace: 'default', workflowId: 'wf', created: 'x', secret: 'AAAA' }));
    await expect(store.get(scope)).rejects.toThrow(`secret file for workflow "wf" in namespace "default": secret: expected base64 of 32 bytes`);
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
