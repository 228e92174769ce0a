import { chmodSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initKmsKeyConfig, rotateKmsKeyConfig } from '../keys/admin/rotation-kms.js';
import { saveUsageScan } from '../keys/admin/usage-report.js';
import { watchFile, writeFileAtomic } from '../primitives/files.js';

const dir = mkdtempSync(path.join(tmpdir(), 'te-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const mode = (file: string) => statSync(file).mode & 0o777;

describe('writeFileAtomic', () => {
  it('writes mode 0600 in 0700 directories it creates, also over a file others could read, and leaves no temporary file', async () => {
    const file = path.join(dir, 'a', 'b', 'secret.json');
    expect(await writeFileAtomic(file, 'one')).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('one');
    expect(mode(file)).toBe(0o600);
    expect(mode(path.join(dir, 'a'))).toBe(0o700);
    chmodSync(file, 0o644);
    await writeFileAtomic(file, 'two');
    expect(readFileSync(file, 'utf8')).toBe('two');
    expect(mode(file)).toBe(0o600);
    expect(readdirSync(path.dirname(file))).toEqual(['secret.json']);
  });

  it('exclusive: never overwrites, and of many creators at once exactly one wins', async () => {
    const file = path.join(dir, 'race.json');
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => writeFileAtomic(file, `writer ${i}`, { exclusive: true })));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(readFileSync(file, 'utf8')).toBe(`writer ${results.indexOf(true)}`);
    expect(await writeFileAtomic(file, 'late', { exclusive: true })).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe(`writer ${results.indexOf(true)}`);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('is what every key file is written with: the KMS key config and the usage report are 0600', async () => {
    const config = path.join(dir, 'kms', 'keys.yaml');
    await initKmsKeyConfig(config, 'alias/first');
    expect(mode(config)).toBe(0o600);
    await rotateKmsKeyConfig(config, 'alias/second');
    expect(mode(config)).toBe(0o600);
    await expect(initKmsKeyConfig(config, 'alias/third')).rejects.toThrow(/already exists/);
    const report = path.join(dir, 'kms', 'keys.yaml.usage.json');
    const now = new Date().toISOString();
    await saveUsageScan(report, { address: 'a:1', namespace: 'n', query: '', since: null, until: null, startedAt: now, finishedAt: now, executions: 0, failedExecutions: 0, payloads: 0, unencrypted: 0, byKey: {} });
    expect(mode(report)).toBe(0o600);
  });
});

describe('watchFile', () => {
  it('sees a rename-over, a deletion and a re-creation; retries a failed handler; stops when closed', async () => {
    const file = path.join(dir, 'watched.json');
    writeFileSync(file, 'v1');
    const seen: string[] = [];
    const errors: string[] = [];
    let failNext = false;
    const watch = watchFile(
      file,
      () => {
        const text = (() => {
          try {
            return readFileSync(file, 'utf8');
          } catch {
            return '(gone)';
          }
        })();
        if (failNext) {
          failNext = false;
          throw new Error(`could not use ${text}`);
        }
        seen.push(text);
      },
      { intervalMs: 20, onError: (err) => errors.push(err.message) },
    );
    try {
      writeFileSync(`${file}.new`, 'v2');
      renameSync(`${file}.new`, file);
      await expect.poll(() => seen, { timeout: 5000 }).toEqual(['v2']);
      rmSync(file);
      await expect.poll(() => seen, { timeout: 5000 }).toEqual(['v2', '(gone)']);
      failNext = true;
      writeFileSync(file, 'v3 longer');
      // The failed attempt is reported, and the same change is offered again on the next tick.
      await expect.poll(() => seen, { timeout: 5000 }).toEqual(['v2', '(gone)', 'v3 longer']);
      expect(errors).toEqual(['could not use v3 longer']);
    } finally {
      watch.close();
    }
    writeFileSync(file, 'after close, with a new size');
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toHaveLength(3);
  });

  it('sees a chmod, which changes no modification time', async () => {
    const file = path.join(dir, 'chmodded.json');
    writeFileSync(file, 'same bytes', { mode: 0o600 });
    let calls = 0;
    const watch = watchFile(file, () => void calls++, { intervalMs: 20 });
    try {
      chmodSync(file, 0o644);
      await expect.poll(() => calls, { timeout: 5000 }).toBe(1);
      chmodSync(file, 0o600);
      await expect.poll(() => calls, { timeout: 5000 }).toBe(2);
    } finally {
      watch.close();
    }
  });
});
