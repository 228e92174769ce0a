import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { EnvelopeCodec, KmsUnavailableError, LocalKeyring } from '../codecs/index.js';
import { rotateDocument } from '../keys/admin/rotation.js';
import { newKeyringDocument } from '../keys/keyring-file.js';
import { CountingProvider } from './support/counting-provider.js';
import { REPO_ROOT } from './cli-support/run-cli.js';
import { jsonPayload } from './support/payloads.js';

const wf = (workflowId: string) => ({ type: 'workflow' as const, namespace: 'default', workflowId });

function setup(cache = {}) {
  let now = 1_000_000;
  const doc = newKeyringDocument();
  const ring = LocalKeyring.fromDocument(doc);
  const kms = new CountingProvider(ring);
  const codec = new EnvelopeCodec({ keyProviders: kms, cache, clock: () => now });
  return { codec, kms, doc, ring, advance: (ms: number) => (now += ms) };
}

describe('data key cache', () => {
  it('makes one KMS call per workflow for 10,000 payloads across 100 workflows, and none to read them back', async () => {
    const { codec, kms } = setup();
    const sealed = [];
    for (let i = 0; i < 10_000; i++) {
      const id = `wf-${i % 100}`;
      sealed.push({ id, p: (await codec.encode([jsonPayload({ i })], wf(id)))[0]! });
    }
    expect(kms.generated).toBe(100);
    for (const s of sealed) await codec.decode([s.p], wf(s.id));
    expect(kms.decrypted).toBe(0);

    // A second worker (cold cache) unwraps once per workflow, not once per payload.
    const reader = new CountingProvider(kms.inner);
    const other = new EnvelopeCodec({ keyProviders: reader });
    for (const s of sealed) await other.decode([s.p], wf(s.id));
    expect(reader.decrypted).toBe(100);
    expect(reader.generated).toBe(0);
  });

  it('coalesces concurrent misses for the same workflow into one KMS call', async () => {
    const { codec, kms } = setup();
    let release!: () => void;
    kms.gate = new Promise((r) => (release = r));
    const pending = Promise.all(Array.from({ length: 50 }, (_, i) => codec.encode([jsonPayload(i)], wf('hot'))));
    await new Promise((r) => setTimeout(r, 10));
    release();
    const results = await pending;
    expect(results).toHaveLength(50);
    expect(kms.generated).toBe(1);

    const reader = new CountingProvider(kms.inner);
    reader.gate = new Promise((r) => setTimeout(r, 10));
    const cold = new EnvelopeCodec({ keyProviders: reader });
    await Promise.all(results.map((r) => cold.decode(r, wf('hot'))));
    expect(reader.decrypted).toBe(1);
  });

  it('makes a fresh data key when the old one reaches its age or payload limit', async () => {
    const { codec, kms, advance } = setup({ maxAgeMs: 60_000, maxPayloadsPerKey: 3 });
    for (let i = 0; i < 3; i++) await codec.encode([jsonPayload(i)], wf('a'));
    expect(kms.generated).toBe(1);
    await codec.encode([jsonPayload(4)], wf('a'));
    expect(kms.generated).toBe(2);
    advance(61_000);
    await codec.encode([jsonPayload(5)], wf('a'));
    expect(kms.generated).toBe(3);
  });

  it('keeps sealing with a cached key while KMS is down, within the grace period, then fails retryably', async () => {
    const { codec, kms, advance } = setup({ maxAgeMs: 60_000, staleGraceMs: 60_000 });
    const [first] = await codec.encode([jsonPayload(1)], wf('a'));
    kms.failWith = new KmsUnavailableError('KMS endpoint refused the connection');
    advance(90_000); // past maxAge, within grace
    const [second] = await codec.encode([jsonPayload(2)], wf('a'));
    expect(second!.metadata!['envelope-dek']).toEqual(first!.metadata!['envelope-dek']);
    // Decrypts of keys we hold do not need KMS either.
    await expect(codec.decode([first!, second!], wf('a'))).resolves.toHaveLength(2);
    // A workflow with no cached key fails, retryably.
    const err = await codec.encode([jsonPayload(3)], wf('new')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KMS_UNAVAILABLE', retryable: true });
    advance(60_000); // past grace
    await expect(codec.encode([jsonPayload(4)], wf('a'))).rejects.toMatchObject({ code: 'KMS_UNAVAILABLE' });
    kms.failWith = undefined; // recovery needs no restart
    await expect(codec.encode([jsonPayload(5)], wf('new'))).resolves.toHaveLength(1);
  });

  it('wraps new data keys with the new primary after a rotation, and still opens old payloads', async () => {
    const doc = newKeyringDocument();
    const ring = LocalKeyring.fromDocument(structuredClone(doc));
    const codec = new EnvelopeCodec({ keyProviders: ring });
    const [before] = await codec.encode([jsonPayload('before')], wf('a'));
    rotateDocument(doc);
    const rotated = LocalKeyring.fromDocument(doc);
    const after = new EnvelopeCodec({ keyProviders: rotated });
    const [sealedAfter] = await after.encode([jsonPayload('after')], wf('a'));
    const kek = (p: typeof before) => new TextDecoder().decode(p!.metadata!['encryption-key-id']!);
    expect(kek(sealedAfter)).not.toBe(kek(before));
    expect(kek(sealedAfter)).toBe(rotated.primaryKeyId());
    await expect(after.decode([before!, sealedAfter!], wf('a'))).resolves.toHaveLength(2);
  });

  it('stays within maxEntries for encrypt and decrypt keys', async () => {
    const { codec } = setup({ maxEntries: 5, maxDecryptEntries: 5 });
    for (let i = 0; i < 50; i++) await codec.encode([jsonPayload(i)], wf(`w${i}`));
    expect(codec.keys.stats()).toEqual({ encryptEntries: 5, decryptEntries: 5 });
  });

  it('drops and wipes idle encrypt keys once past maxAgeMs + staleGraceMs, without waiting for newer scopes to push them out', async () => {
    const { codec, advance } = setup({ maxAgeMs: 60_000, staleGraceMs: 30_000 });
    await codec.encode([jsonPayload(1)], wf('idle'));
    const cached = [...(codec.keys as unknown as { encrypt: Map<string, { key: Uint8Array }> }).encrypt.values()];
    expect(cached).toHaveLength(1);
    const key = cached[0]!.key;
    expect(key.some((b) => b !== 0)).toBe(true);
    advance(89_000); // within the grace a key may still seal with while KMS is down: kept
    codec.keys.purgeExpired();
    expect(codec.keys.stats().encryptEntries).toBe(1);
    advance(2_000);
    codec.keys.purgeExpired();
    expect(codec.keys.stats().encryptEntries).toBe(0);
    expect(key.every((b) => b === 0)).toBe(true);
  });

  it('purges on a timer that does not keep a process alive', async () => {
    const script = "import { EnvelopeCodec, LocalKeyring } from './codecs/index.ts'; import { newKeyringDocument } from './keys/keyring-file.ts';" +
      "const codec = new EnvelopeCodec({ keyProviders: LocalKeyring.fromDocument(newKeyringDocument()) });" +
      "await codec.encode([{ data: new Uint8Array([1]) }]); console.log('sealed');";
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, timeout: 30_000 });
    expect(stdout.trim()).toBe('sealed'); // and the process ended by itself
  });

  it('forgetScope drops exactly that scope\'s keys, encrypt and decrypt', async () => {
    const { codec, kms } = setup();
    const [a] = await codec.encode([jsonPayload('a')], wf('a'));
    const [b] = await codec.encode([jsonPayload('b')], wf('b'));
    expect(codec.keys.stats()).toEqual({ encryptEntries: 2, decryptEntries: 2 });
    codec.keys.forgetScope({ namespace: 'default', workflowId: 'a' });
    expect(codec.keys.stats()).toEqual({ encryptEntries: 1, decryptEntries: 1 });
    await codec.decode([b!], wf('b'));
    expect(kms.decrypted).toBe(0); // b's key is still cached
    await codec.decode([a!], wf('a'));
    expect(kms.decrypted).toBe(1); // a's went back to the provider
    await codec.encode([jsonPayload('b2')], wf('b'));
    expect(kms.generated).toBe(2);
    await codec.encode([jsonPayload('a2')], wf('a'));
    expect(kms.generated).toBe(3);
  });
});
