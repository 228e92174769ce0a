import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EnvelopeCodec, LocalKeyring, makeScope } from '../codecs/index.js';
import { retireInDocument, rotateDocument, writeKeyring } from '../keys/admin/rotation.js';
import { readKeyring } from '../keys/keyring-file.js';
import { jsonPayload, text } from './support/payloads.js';

const opened: LocalKeyring[] = [];
afterEach(() => opened.splice(0).forEach((r) => r.close()));

async function open(file: string, opts = {}) {
  const warnings: string[] = [];
  const ring = await LocalKeyring.open({ path: file, create: true, watchIntervalMs: 0, warn: (m) => warnings.push(m), ...opts });
  opened.push(ring);
  return { ring, warnings };
}

const tmp = () => path.join(mkdtempSync(path.join(tmpdir(), 'te-ring-')), 'keyring.json');

describe('LocalKeyring', () => {
  it('creates a 0600 keyring on first use and warns that it is for development', async () => {
    const file = tmp();
    const { ring, warnings } = await open(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(warnings.join()).toMatch(/development keyring/);
    expect(warnings.join()).not.toMatch(/material/);
    const keys = await ring.listKeys();
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ state: 'primary', provider: 'local' });
  });

  it('creates nothing unless asked: a missing keyring is an error naming the path and the command that creates it', async () => {
    const file = tmp();
    await expect(LocalKeyring.open({ path: file, watchIntervalMs: 0 })).rejects.toMatchObject({
      code: 'KEYRING_ERROR',
      message: `keyring ${file} does not exist; create it with "temporal-envelope keys init"`,
    });
    expect(existsSync(file)).toBe(false);
  });

  it('refuses a keyring other users can read, naming the fix', async () => {
    const file = tmp();
    await open(file);
    chmodSync(file, 0o644);
    await expect(LocalKeyring.open({ path: file, watchIntervalMs: 0 })).rejects.toThrow(/chmod 600/);
  });

  it('names what is wrong with a corrupt keyring', async () => {
    const file = tmp();
    writeFileSync(file, '{ nope', { mode: 0o600 });
    await expect(LocalKeyring.open({ path: file })).rejects.toMatchObject({ code: 'KEYRING_ERROR', message: expect.stringMatching(/not valid JSON/) });
    writeFileSync(file, JSON.stringify({ format: 'temporal-envelope-keyring/v1', keys: [{ id: 'a', version: 1, state: 'decrypt-only', created: 'x', material: Buffer.alloc(32).toString('base64') }] }));
    await expect(LocalKeyring.open({ path: file })).rejects.toThrow(/exactly one key with state "primary"/);
    await expect(LocalKeyring.open({ path: tmp(), create: false })).rejects.toThrow(/keys init/);
  });

  it('binds a wrapped data key to its scope', async () => {
    const { ring } = await open(tmp());
    const dk = await ring.generateDataKey(makeScope('default', 'wf-1'));
    expect(Buffer.from(await ring.decryptDataKey(dk.keyId, dk.wrapped, makeScope('default', 'wf-1')))).toEqual(Buffer.from(dk.plaintext));
    await expect(ring.decryptDataKey(dk.keyId, dk.wrapped, makeScope('default', 'wf-2'))).rejects.toMatchObject({ code: 'TAMPERED_CIPHERTEXT' });
    await expect(ring.decryptDataKey(dk.keyId, dk.wrapped, makeScope('default'))).rejects.toMatchObject({ code: 'TAMPERED_CIPHERTEXT' });
    await expect(ring.decryptDataKey('local-9-nope', dk.wrapped, makeScope('default', 'wf-1'))).rejects.toMatchObject({ code: 'UNKNOWN_KEY' });
  });

  it('picks up a rotation written by another process without restart, and retirement stops decrypts', async () => {
    const file = tmp();
    const { ring } = await open(file, { watchIntervalMs: 20 });
    const codec = new EnvelopeCodec({ keyProviders: ring });
    const ctx = { type: 'workflow' as const, namespace: 'default', workflowId: 'w' };
    const [old] = await codec.encode([jsonPayload('old')], ctx);
    const oldKek = ring.primaryKeyId();

    const doc = await readKeyring(file);
    const next = rotateDocument(doc);
    await writeKeyring(file, doc);
    await expect.poll(() => ring.primaryKeyId(), { timeout: 2000 }).toBe(next.id);

    const [fresh] = await codec.encode([jsonPayload('new')], ctx);
    expect(new TextDecoder().decode(fresh!.metadata!['encryption-key-id']!)).toBe(next.id);
    expect(text((await new EnvelopeCodec({ keyProviders: ring }).decode([old!], ctx))[0])).toBe('"old"');

    retireInDocument(doc, oldKek);
    await writeKeyring(file, doc);
    await expect.poll(async () => (await ring.listKeys()).find((k) => k.id === oldKek)?.state, { timeout: 2000 }).toBe('retired');
    await expect(new EnvelopeCodec({ keyProviders: ring }).decode([old!], ctx)).rejects.toMatchObject({ code: 'KEY_RETIRED' });
    expect(readFileSync(file, 'utf8')).toContain(next.id);
  });

  it('keeps its keys when the file is broken mid-run', async () => {
    const file = tmp();
    const warnings: string[] = [];
    const ring = await LocalKeyring.open({ path: file, create: true, watchIntervalMs: 20, warn: (m) => warnings.push(m) });
    opened.push(ring);
    const id = ring.primaryKeyId();
    writeFileSync(file, 'garbage');
    await expect.poll(() => warnings.some((w) => /reload failed/.test(w)), { timeout: 2000 }).toBe(true);
    expect(ring.primaryKeyId()).toBe(id);
    await expect(ring.generateDataKey(makeScope('default'))).resolves.toBeDefined();
  });
});
