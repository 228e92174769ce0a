import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Payload } from '@temporalio/common';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec } from '../codecs/envelope-codec.js';
import { payloadsToJson } from '../codecs/payload-json.js';
import { openKeyProviders } from '../keys/assemble.js';
import { createKeyring } from '../keys/keyring-file.js';
import { FileScopeSecretStore } from '../keys/shred-store.js';
import type { KeyProvider } from '../keys/key-provider.js';
import { makeScope } from '../primitives/scope.js';
import { sha256Hex } from '../src/config/token-hash.js';
import { serve, type RunningServer } from '../src/server/index.js';
import { jsonPayload } from './support/payloads.js';

/**
 * The codec server's keys come from its config through the same assembler as the workers'
 * (keys/assemble.ts): with `keys.shredStore` it opens the crypto-shreddable payloads workers seal
 * with that store, and after `keys shred` it returns them sealed (KEY_SHREDDED), never a 422.
 */

const dir = mkdtempSync(path.join(tmpdir(), 'te-server-keys-'));
const keyring = path.join(dir, 'keyring.json');
const storeDir = path.join(dir, 'shred-store');
const token = 'server-keys-test-token-0123456789';
let server: RunningServer;
let workerKeys: KeyProvider;
let worker: EnvelopeCodec;

beforeAll(async () => {
  await createKeyring(keyring);
  const config = path.join(dir, 'server.yaml');
  writeFileSync(
    config,
    YAML.stringify({
      server: { host: '127.0.0.1', port: 0 },
      auth: { staticTokens: [{ principal: 'op', sha256: `sha256:${sha256Hex(token)}` }] },
      policy: { rules: [{ principals: ['op'], namespaces: ['default'], actions: ['decode'] }] },
      keys: { provider: 'local', local: { path: keyring, watchIntervalMs: 0 }, shredStore: { path: storeDir, watchIntervalMs: 50 } },
      rateLimit: { enabled: false },
      log: { level: 'silent' },
    }),
  );
  server = await serve({ configPath: config, env: {}, handleSignals: false });
  // A worker: the same assembler, the same keyring and shred store.
  workerKeys = await openKeyProviders({ local: { path: keyring }, shredStore: storeDir, watchIntervalMs: 0 });
  worker = new EnvelopeCodec({ keyProviders: workerKeys });
});
afterAll(async () => {
  await server?.close();
  await workerKeys?.close?.();
  rmSync(dir, { recursive: true, force: true });
});

const seal = async (workflowId: string, value: string) => (await worker.encode([jsonPayload(value)], { type: 'workflow', namespace: 'default', workflowId }))[0]!;
async function decode(payloads: Payload[]): Promise<{ status: number; body: { payloads?: { metadata: Record<string, string>; data: string }[]; error?: { code: string } } }> {
  const res = await fetch(`${server.url}/decode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': 'default', authorization: `Bearer ${token}` },
    body: JSON.stringify(payloadsToJson(payloads)),
  });
  return { status: res.status, body: (await res.json()) as never };
}
const text = (p: { data: string }) => Buffer.from(p.data, 'base64').toString();

describe('the codec server with keys.shredStore', () => {
  it('decodes shreddable payloads sealed by a worker with the same store', async () => {
    const sealed = await seal('customer-1', 'pii of customer 1');
    expect(Buffer.from(sealed.metadata!['encryption-key-id']!).toString()).toMatch(/^shred:local-1-/);
    const res = await decode([sealed]);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(text(res.body.payloads![0]!)).toBe('"pii of customer 1"');
  });

  it('after a shred, returns that workflow\'s payloads sealed (KEY_SHREDDED), not a 422; other workflows still open', async () => {
    const [gone, kept] = [await seal('customer-2', 'pii of customer 2'), await seal('customer-3', 'pii of customer 3')];
    await new FileScopeSecretStore(storeDir).shred(makeScope('default', 'customer-2'));
    const res = await decode([gone, kept]);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.payloads![0]).toEqual(payloadsToJson([gone]).payloads[0]);
    expect(text(res.body.payloads![1]!)).toBe('"pii of customer 3"');
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/temporal_envelope_payloads_total\{op="decode",outcome="failed"\} [1-9]/);
  });

  it('forgets the cached key of a workflow shredded while it runs', async () => {
    const sealed = await seal('customer-4', 'pii of customer 4');
    expect(text((await decode([sealed])).body.payloads![0]!)).toBe('"pii of customer 4"'); // now cached
    await new FileScopeSecretStore(storeDir).shred(makeScope('default', 'customer-4'));
    await expect.poll(async () => (await decode([sealed])).body.payloads![0], { timeout: 10_000, interval: 50 }).toEqual(payloadsToJson([sealed]).payloads[0]);
  });
});

describe('keyrings are created only by keys init and dev mode', () => {
  const configFor = (keyringPath: string) => {
    const file = path.join(dir, `config-${path.basename(keyringPath)}.yaml`);
    writeFileSync(file, YAML.stringify({ server: { host: '127.0.0.1', port: 0 }, keys: { local: { path: keyringPath, watchIntervalMs: 0 } }, log: { level: 'silent' } }));
    return file;
  };

  it('serve --config with a mistyped keyring path fails at start, naming the path and keys init, and creates nothing', async () => {
    const typo = path.join(dir, 'keyrnig.json');
    await expect(serve({ configPath: configFor(typo), env: {}, handleSignals: false })).rejects.toMatchObject({
      code: 'KEYRING_ERROR',
      message: `keyring ${typo} does not exist; create it with "temporal-envelope keys init"`,
    });
    expect(existsSync(typo)).toBe(false);
  });

  it('dev mode (no config) creates the development keyring', async () => {
    const devKeyring = path.join(dir, 'dev', 'keyring.json');
    const dev = await serve({ host: '127.0.0.1', port: 0, env: { TEMPORAL_ENVELOPE_KEYRING: devKeyring, TEMPORAL_ENVELOPE_DEV_TOKEN: 'dev-token-0123456789abcdef', TEMPORAL_ENVELOPE_LOG_LEVEL: 'silent' }, handleSignals: false });
    try {
      expect(statSync(devKeyring).mode & 0o777).toBe(0o600);
      expect((await fetch(`${dev.url}/readyz`)).status).toBe(200);
    } finally {
      await dev.close();
    }
  });

  // Only the status: why is in the server's log (test/readiness.test.ts reads it).
  it('/readyz fails while the configured keyring cannot be loaded (deleted, corrupted), and recovers', async () => {
    const ring = path.join(dir, 'ready.json');
    await createKeyring(ring);
    const saved = readFileSync(ring);
    const srv = await serve({ configPath: configFor(ring), env: {}, handleSignals: false });
    const ready = async () => {
      const res = await fetch(`${srv.url}/readyz`);
      return { status: res.status, body: (await res.json()) as unknown };
    };
    try {
      expect((await ready()).status).toBe(200);
      rmSync(ring);
      expect(await ready()).toEqual({ status: 503, body: { status: 'not ready' } });
      writeFileSync(ring, '{ "format": ', { mode: 0o600 });
      expect(await ready()).toEqual({ status: 503, body: { status: 'not ready' } });
      writeFileSync(ring, saved, { mode: 0o600 });
      expect((await ready()).status).toBe(200);
    } finally {
      await srv.close();
    }
  });
});
