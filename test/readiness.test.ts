import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createKeyring } from '../keys/keyring-file.js';
import { LocalKeyring } from '../keys/local-keyring.js';
import { KeyringError, KmsUnavailableError } from '../primitives/errors.js';
import { Readiness } from '../src/server/readiness.js';
import { buildTestServer, token } from './support/server-harness.js';

/**
 * /readyz tells anyone who can reach the port one bit; why the server is not ready goes to its log,
 * once per change (issue 15, item 8). The keyring's mode is checked on every probe and every
 * watch tick, so a keyring opened up to other users while the server runs is noticed at once.
 */

const dir = mkdtempSync(path.join(tmpdir(), 'te-readiness-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines, readiness: () => lines.filter((l) => l.readiness).map((l) => l.readiness as Record<string, unknown>) };
}

describe('Readiness', () => {
  it('logs the reason when readiness changes, not on every probe', async () => {
    let failure: Error | undefined = new KeyringError('keyring /somewhere/keyring.json does not exist');
    let now = 0;
    const log = capturedLogger();
    const r = new Readiness(async () => {
      if (failure) throw failure;
    }, log.logger, { now: () => now });

    for (let i = 0; i < 5; i++) expect(await r.probe()).toMatchObject({ ready: false, code: 'KEYRING_ERROR' });
    expect(log.readiness()).toEqual([{ status: 'not ready', code: 'KEYRING_ERROR', message: 'keyring /somewhere/keyring.json does not exist' }]);

    // Same code, new words: logged, but at most once a minute (some messages carry counters).
    failure = new KeyringError('keyring /somewhere/keyring.json is not valid JSON');
    now += 1000;
    await r.probe();
    expect(log.readiness()).toHaveLength(1);
    now += 60_000;
    await r.probe();
    await r.probe();
    expect(log.readiness().at(-1)).toMatchObject({ message: 'keyring /somewhere/keyring.json is not valid JSON' });
    expect(log.readiness()).toHaveLength(2);

    // Another code is a change at once; so is being ready again.
    failure = new KmsUnavailableError('KMS DescribeKey timed out');
    await r.probe();
    failure = undefined;
    expect(await r.probe()).toEqual({ ready: true });
    await r.probe();
    expect(log.readiness().slice(2)).toEqual([{ status: 'not ready', code: 'KMS_UNAVAILABLE', message: 'KMS DescribeKey timed out' }, { status: 'ready' }]);
  });

  it('probes arriving during a check share it; a check that hangs is "not ready" after the timeout', async () => {
    let calls = 0;
    let release!: () => void;
    const log = capturedLogger();
    const r = new Readiness(() => {
      calls++;
      return new Promise<void>((resolve) => (release = resolve));
    }, log.logger);
    const probes = [r.probe(), r.probe(), r.probe()];
    release();
    expect(await Promise.all(probes)).toEqual([{ ready: true }, { ready: true }, { ready: true }]);
    expect(calls).toBe(1);

    const hung = new Readiness(() => new Promise<void>(() => {}), log.logger, { timeoutMs: 20 });
    expect(await hung.probe()).toMatchObject({ ready: false, code: 'NOT_READY', message: 'readiness check did not answer within 20 ms' });
  });
});

describe('/readyz on a local keyring file', () => {
  it('answers only ready or not; a keyring made world-readable, or replaced by a directory, is noticed at once and logged once', async () => {
    const ringDir = path.join(dir, 'keys');
    mkdirSync(ringDir, { mode: 0o700 });
    const file = path.join(ringDir, 'keyring.json');
    await createKeyring(file);
    const warnings: string[] = [];
    const ring = await LocalKeyring.open({ path: file, watchIntervalMs: 20, warn: (m) => warnings.push(m) });
    const root = token('root');
    const srv = await buildTestServer({ auth: { staticTokens: [root.entry] }, policy: { rules: [{ principals: ['root'], namespaces: ['default'], actions: ['decode'] }] } }, ring);
    const answers: { what: string; text: string }[] = [];
    const get = async (url: string) => {
      const res = await srv.app.inject({ method: 'GET', url });
      answers.push({ what: `GET ${url} ${res.statusCode}`, text: res.body + JSON.stringify(res.headers) });
      return res;
    };
    const ready = async () => {
      const res = await get('/readyz');
      return { status: res.statusCode, body: res.json() as unknown };
    };
    const readinessLog = () => srv.lines.map((l) => JSON.parse(l) as { readiness?: Record<string, unknown> }).flatMap((l) => (l.readiness ? [l.readiness] : []));
    try {
      expect(await ready()).toEqual({ status: 200, body: { status: 'ready' } });

      chmodSync(file, 0o644);
      // The watch tick notices a chmod (which changes no mtime) without any probe.
      await expect.poll(() => warnings.join('\n'), { timeout: 5000 }).toMatch(/keyring reload failed, keeping the loaded keys: .*readable by other users \(mode 644\)/);
      for (let i = 0; i < 3; i++) expect(await ready()).toEqual({ status: 503, body: { status: 'not ready' } });
      expect(readinessLog().filter((r) => r.status === 'not ready')).toEqual([
        { status: 'not ready', code: 'KEYRING_ERROR', message: `keyring ${file} is readable by other users (mode 644); run chmod 600 on it` },
      ]);
      // The other routes anyone can reach, and a caller without credentials, meanwhile.
      await get('/healthz');
      await get('/metrics');
      await get('/nope');
      const anonymous = await srv.app.inject({ method: 'POST', url: '/decode', payload: { payloads: [] }, headers: { 'x-namespace': 'default' } });
      answers.push({ what: 'POST /decode (no credentials)', text: anonymous.body });
      await new Promise((r) => setTimeout(r, 100));
      expect(warnings.filter((w) => /readable by other users/.test(w))).toHaveLength(1); // retried every tick, warned once

      chmodSync(file, 0o600);
      expect(await ready()).toEqual({ status: 200, body: { status: 'ready' } });
      expect(readinessLog().at(-1)).toEqual({ status: 'ready' });

      // A keyring that cannot be read: a directory where the file was.
      const saved = readFileSync(file);
      renameSync(file, `${file}.bak`);
      mkdirSync(file);
      expect(await ready()).toEqual({ status: 503, body: { status: 'not ready' } });
      expect(readinessLog().at(-1)).toMatchObject({ code: 'KEYRING_ERROR', message: `keyring ${file} is a directory, expected a keyring file` });
      rmSync(file, { recursive: true });
      writeFileSync(file, saved, { mode: 0o600 });
      expect(await ready()).toEqual({ status: 200, body: { status: 'ready' } });
      expect(readinessLog().map((r) => r.status)).toEqual(['ready', 'not ready', 'ready', 'not ready', 'ready']);

      expect(answers.length).toBeGreaterThan(8);
      for (const { what, text } of answers) {
        for (const leak of [file, ringDir, dir, 'keyring', '(mode', 'chmod', 'directory', 'KEYRING_ERROR', ring.primaryKeyId()]) expect(text, `${what} names ${leak}`).not.toContain(leak);
        // /metrics is all numbers; elsewhere not even the mode's digits.
        if (!what.startsWith('GET /metrics')) expect(text, `${what} names the mode`).not.toMatch(/644|0o?600/);
      }
    } finally {
      await srv.app.close();
      ring.close();
    }
  });
});
