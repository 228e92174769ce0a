import { chmodSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Payload } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec, LegacyKeyring, LocalKeyring, openKeyProviders } from '../codecs/index.js';
import { payloadsToJson } from '../codecs/payload-json.js';
import { importLegacyKey, retireLegacyKey } from '../keys/admin/legacy-keys.js';
import { assessRetirement } from '../keys/admin/retire-rules.js';
import type { UsageReport, UsageScan } from '../keys/admin/usage-report.js';
import { UsageTally } from '../keys/admin/usage-report.js';
import { newKeyringDocument } from '../keys/keyring-file.js';
import { LEGACY_KEYS_FORMAT, type LegacyKeysDocument } from '../keys/legacy-key-file.js';
import { samplesKeyIdOf } from '../primitives/samples-format.js';
import { fromProtoJson, jsonPayload, samePayload, text } from './support/payloads.js';
import { SAMPLES_KEY_TEXT, SamplesEncryptionCodec } from './support/samples-codec.js';
import { buildTestServer, token } from './support/server-harness.js';
import { parseJson, runCli } from './cli-support/run-cli.js';

/**
 * Migrating from Temporal's samples encryption codec: payloads it sealed open under an imported
 * legacy key, everything new is sealed in the envelope, and legacy payloads, which carry no scope,
 * are refused wherever a caller authorizes by scope without saying what to do with them.
 */

const KEY_ID = 'test-key-id';
const KEY = new TextEncoder().encode(SAMPLES_KEY_TEXT);
const dir = mkdtempSync(path.join(tmpdir(), 'te-legacy-'));
const wf = (workflowId: string) => ({ type: 'workflow' as const, namespace: 'default', workflowId });
const legacyDoc = (state: 'decrypt-only' | 'retired' = 'decrypt-only', id = KEY_ID): LegacyKeysDocument => ({
  format: LEGACY_KEYS_FORMAT,
  keys: [{ id, kind: 'samples-aes-256-gcm' as const, state, added: '2026-11-01T00:00:00.000Z', material: Buffer.from(KEY).toString('base64') }],
});

const ring = LocalKeyring.fromDocument(newKeyringDocument());
let samples: SamplesEncryptionCodec;
let sampled: Payload[];

beforeAll(async () => {
  samples = await SamplesEncryptionCodec.create(KEY_ID);
  sampled = await samples.encode([jsonPayload({ token: 'dlg_tok_legacy' }), jsonPayload('second')]);
});

describe('the samples format', () => {
  it('is what the samples write: binary/encrypted, encryption-key-id, no envelope-version, 12-byte nonce and 16-byte tag around the serialized Payload', async () => {
    const p = sampled[0]!;
    expect(Object.keys(p.metadata!).sort()).toEqual(['encoding', 'encryption-key-id']);
    expect(samplesKeyIdOf(p)).toBe(KEY_ID);
    expect(p.data!.length).toBe(12 + 16 + (await import('@temporalio/proto')).default.temporal.api.common.v1.Payload.encode(jsonPayload({ token: 'dlg_tok_legacy' })).finish().length);
    expect(text((await samples.decode([p]))[0])).toContain('dlg_tok_legacy');
  });
});

describe('EnvelopeCodec with a legacy keyring', () => {
  const codec = new EnvelopeCodec({ keyProviders: ring, legacyKeys: LegacyKeyring.fromDocument(legacyDoc()), requireEncryption: true });

  it('opens samples payloads in any workflow context and seals new ones in the envelope', async () => {
    const out = await codec.decode(sampled, wf('any-workflow'));
    expect(out.map(text)).toEqual([JSON.stringify({ token: 'dlg_tok_legacy' }), JSON.stringify('second')]);
    const [fresh] = await codec.encode([jsonPayload('new')], wf('any-workflow'));
    expect(new TextDecoder().decode(fresh!.metadata!['envelope-version'])).toBe('1');
    expect(samplesKeyIdOf(fresh!)).toBeUndefined();
    const mixed = await codec.decodeDetailed([sampled[0]!, fresh!]);
    expect(mixed.map((r) => [r.status, r.legacy ?? false, r.keyId])).toEqual([
      ['decoded', true, KEY_ID],
      ['decoded', false, ring.primaryKeyId()],
    ]);
  });

  it('leaves a samples payload under an unknown key id not ours (PLAINTEXT_REJECTED with requireEncryption, passed through otherwise)', async () => {
    const [foreign] = await (await SamplesEncryptionCodec.create('someone-elses-key')).encode([jsonPayload('x')]);
    await expect(codec.decode([foreign!], wf('w'))).rejects.toMatchObject({ code: 'PLAINTEXT_REJECTED', message: expect.stringContaining('not a configured legacy key') });
    const lenient = new EnvelopeCodec({ keyProviders: ring, legacyKeys: LegacyKeyring.fromDocument(legacyDoc()) });
    expect(await lenient.decode([foreign!], wf('w'))).toEqual([foreign]);
    // Without any legacy keyring, samples payloads are not ours, as before.
    expect(await new EnvelopeCodec({ keyProviders: ring }).decode(sampled, wf('w'))).toEqual(sampled);
  });

  it('TAMPERED_CIPHERTEXT for altered data or a wrong key, KEY_RETIRED for a retired legacy key, MALFORMED_PAYLOAD without data', async () => {
    const altered = { ...sampled[0]!, data: Uint8Array.from(sampled[0]!.data!) };
    altered.data[20]! ^= 1;
    await expect(codec.decode([altered])).rejects.toMatchObject({ code: 'TAMPERED_CIPHERTEXT' });
    const wrongKey = { ...legacyDoc(), keys: [{ ...legacyDoc().keys[0]!, material: Buffer.alloc(32, 7).toString('base64') }] };
    await expect(new EnvelopeCodec({ keyProviders: ring, legacyKeys: LegacyKeyring.fromDocument(wrongKey) }).decode([sampled[0]!])).rejects.toMatchObject({ code: 'TAMPERED_CIPHERTEXT' });
    await expect(new EnvelopeCodec({ keyProviders: ring, legacyKeys: LegacyKeyring.fromDocument(legacyDoc('retired')) }).decode([sampled[0]!])).rejects.toMatchObject({ code: 'KEY_RETIRED' });
    await expect(codec.decode([{ metadata: sampled[0]!.metadata! }])).rejects.toMatchObject({ code: 'MALFORMED_PAYLOAD' });
  });

  it('refuses legacy payloads ("denied") when a caller authorizes by scope and gives no authorizeLegacy; authorizeLegacy sees key ids only', async () => {
    const [fresh] = await codec.encode([jsonPayload('new')], wf('w'));
    const refused = await codec.decodeDetailed([sampled[0]!, fresh!], { passThroughUnopenable: true, authorize: (s) => s.map(() => true) });
    expect(refused.map((r) => r.status)).toEqual(['denied', 'decoded']);
    expect(refused[0]!.payload).toBe(sampled[0]);
    const seen: unknown[] = [];
    const allowed = await codec.decodeDetailed([sampled[0]!, fresh!], {
      passThroughUnopenable: true,
      authorize: (s) => s.map(() => true),
      authorizeLegacy: (l) => (seen.push(...l), l.map(() => true)),
    });
    expect(seen).toEqual([{ index: 0, keyId: KEY_ID }]);
    expect(allowed.map((r) => r.status)).toEqual(['decoded', 'decoded']);
  });

  it('matches the key id byte for byte (a leading U+FEFF stays)', async () => {
    const bom = '\uFEFFkey';
    const [p] = await (await SamplesEncryptionCodec.create(bom)).encode([jsonPayload('bom')]);
    const c = new EnvelopeCodec({ keyProviders: ring, legacyKeys: LegacyKeyring.fromDocument(legacyDoc('decrypt-only', bom)), requireEncryption: true });
    expect(text((await c.decode([p!]))[0])).toBe('"bom"');
    const plain = new EnvelopeCodec({ keyProviders: ring, legacyKeys: LegacyKeyring.fromDocument(legacyDoc('decrypt-only', 'key')), requireEncryption: true });
    await expect(plain.decode([p!])).rejects.toMatchObject({ code: 'PLAINTEXT_REJECTED' });
  });
});

describe('known-answer vectors of the samples format (test/vectors/samples-v1.json, also checked by the Go codec)', () => {
  const vectors = JSON.parse(readFileSync(new URL('./vectors/samples-v1.json', import.meta.url), 'utf8')) as {
    legacyKeys: LegacyKeysDocument;
    valid: { name: string; input: unknown; sealed: unknown }[];
    invalid: { name: string; code: string; sealed: unknown }[];
  };
  const codec = new EnvelopeCodec({ keyProviders: ring, legacyKeys: LegacyKeyring.fromDocument(vectors.legacyKeys), requireEncryption: true });

  for (const v of vectors.valid) {
    it(`opens: ${v.name}`, async () => {
      const [opened] = await codec.decode([fromProtoJson(v.sealed)], wf('any-workflow'));
      expect(samePayload(opened!, fromProtoJson(v.input))).toBe(true);
    });
  }
  for (const v of vectors.invalid) {
    it(`fails with ${v.code}: ${v.name}`, async () => {
      await expect(codec.decode([fromProtoJson(v.sealed)], wf('any-workflow'))).rejects.toMatchObject({ code: v.code });
    });
  }
});

describe('the legacy key file', () => {
  it('import-legacy writes it with mode 0600, refuses duplicates and keys that are not 32 bytes, never returns material', async () => {
    const file = path.join(dir, 'a', 'legacy-keys.json');
    const entry = await importLegacyKey(file, KEY_ID, KEY);
    expect(entry).toEqual({ id: KEY_ID, kind: 'samples-aes-256-gcm', state: 'decrypt-only', added: expect.any(String), retired: undefined });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ format: LEGACY_KEYS_FORMAT, keys: [{ id: KEY_ID, material: Buffer.from(KEY).toString('base64') }] });
    await expect(importLegacyKey(file, KEY_ID, KEY)).rejects.toMatchObject({ code: 'KEYRING_ERROR', message: expect.stringContaining('already') });
    await expect(importLegacyKey(file, 'short', KEY.subarray(0, 31))).rejects.toMatchObject({ code: 'KEYRING_ERROR', message: expect.stringContaining('got 31') });
  });

  it('openKeyProviders({ legacyKeys }) gives the codec the legacy keyring; a world-readable file is refused; a retire reaches it', async () => {
    const file = path.join(dir, 'b', 'legacy-keys.json');
    const keyring = path.join(dir, 'b', 'keyring.json');
    await importLegacyKey(file, KEY_ID, KEY);
    const provider = await openKeyProviders({ local: { path: keyring, create: true }, legacyKeys: { path: file }, watchIntervalMs: 0, warn: () => {} });
    try {
      const codec = new EnvelopeCodec({ keyProviders: provider });
      expect(text((await codec.decode([sampled[1]!], wf('w')))[0])).toBe('"second"');
      await retireLegacyKey(file, KEY_ID, { destroy: true });
      await provider.checkReady(); // re-reads the legacy key file too
      await expect(codec.decode([sampled[1]!], wf('w'))).rejects.toMatchObject({ code: 'KEY_RETIRED' });
    } finally {
      await provider.close?.();
    }
    chmodSync(file, 0o644);
    await expect(openKeyProviders({ local: { path: keyring }, legacyKeys: { path: file }, watchIntervalMs: 0 })).rejects.toMatchObject({
      code: 'KEYRING_ERROR',
      message: expect.stringContaining('readable by other users'),
    });
  });
});

describe('usage evidence for a legacy key', () => {
  const scan = (over: Partial<UsageScan>): UsageScan => ({
    address: 'a:1', namespace: 'default', query: '', since: null, until: null,
    startedAt: '2026-11-29T10:00:00.000Z', finishedAt: '2026-11-29T10:01:00.000Z',
    executions: 3, failedExecutions: 0, payloads: 0, unencrypted: 0, byKey: {}, legacy: {},
    schedules: { scanned: 0, failed: 0, payloads: 0, unencrypted: 0, byKey: {} }, ...over,
  });
  const report = (...scans: UsageScan[]): UsageReport => ({ format: 'temporal-envelope-usage/v1', scans });
  const key = { keyId: KEY_ID, created: undefined, demotedAt: '2026-11-01T00:00:00.000Z', legacy: true };
  const policy = { now: new Date('2026-11-29T11:00:00.000Z'), maxReportAgeMs: 24 * 3_600_000, settleMs: 60_000 };

  it('the tally counts samples payloads per legacy key id, apart from ours and from plaintext', () => {
    const t = new UsageTally();
    t.addLegacy(KEY_ID);
    t.addLegacy(KEY_ID);
    t.addLegacy('other');
    t.add(undefined);
    expect(t.legacy()).toEqual({ other: { payloads: 1 }, [KEY_ID]: { payloads: 2 } });
    expect([t.payloads, t.unencrypted, t.byKey()]).toEqual([4, 1, {}]);
  });

  it('refuses while a scan counts its payloads, for a scan that predates legacy counting or used --since; accepts a clean full scan', () => {
    expect(assessRetirement(report(scan({ legacy: { [KEY_ID]: { payloads: 2 } } })), key, policy)).toMatchObject({ ok: false, reasons: [expect.stringContaining('found 2 payload(s) sealed by the samples codec')] });
    const { legacy: _none, ...old } = scan({});
    expect(assessRetirement(report(old), key, policy)).toMatchObject({ ok: false, reasons: [expect.stringContaining('predates counting legacy payloads')] });
    expect(assessRetirement(report(scan({ since: '2026-11-20T00:00:00.000Z' })), key, policy)).toMatchObject({ ok: false, reasons: [expect.stringContaining('rescan without --since')] });
    // An envelope key of the same name elsewhere does not count against it, nor it against one.
    expect(assessRetirement(report(scan({ byKey: { [KEY_ID]: { payloads: 5, scopes: 1, shreddable: 0 } } })), key, policy)).toEqual({ ok: true, scans: 1 });
  });
});

describe('the codec server and legacy payloads', () => {
  const alice = token('alice', ['tenant-a-ops']); // limited to workflow-id patterns
  const bob = token('bob', ['ns-ops']); // patterns, and namespace-scoped payloads
  const root = token('root');
  let srv: Awaited<ReturnType<typeof buildTestServer>>;
  beforeAll(async () => {
    await importLegacyKey(path.join(dir, 'srv', 'legacy.json'), KEY_ID, KEY);
    const provider = await openKeyProviders({ local: { path: path.join(dir, 'srv', 'keyring.json'), create: true }, legacyKeys: { path: path.join(dir, 'srv', 'legacy.json') }, watchIntervalMs: 0, warn: () => {} });
    srv = await buildTestServer(
      {
        auth: { staticTokens: [alice.entry, bob.entry, root.entry] },
        policy: {
          onDeny: 'leave-sealed',
          rules: [
            { groups: ['tenant-a-ops'], namespaces: ['default'], workflowIdPatterns: ['tenant-a/*'], actions: ['decode'] },
            { groups: ['ns-ops'], namespaces: ['default'], workflowIdPatterns: ['tenant-a/*'], includeNamespaceScoped: true, actions: ['decode'] },
            { principals: ['root'], namespaces: ['default'], actions: ['decode'] },
          ],
        },
      },
      provider,
    );
  });
  afterAll(async () => {
    await srv?.app.close();
    await srv?.keyring.close?.();
  });
  const post = (t: string, body: unknown) =>
    srv.app.inject({ method: 'POST', url: '/decode', payload: JSON.stringify(body), headers: { 'content-type': 'application/json', 'x-namespace': 'default', authorization: `Bearer ${t}` } });

  it('decodes them for a namespace-wide rule or includeNamespaceScoped, leaves them sealed for a principal limited to workflow ids', async () => {
    const body = payloadsToJson([sampled[0]!]);
    const forRoot = await post(root.value, body);
    expect(forRoot.statusCode).toBe(200);
    expect(Buffer.from(forRoot.json().payloads[0].data, 'base64').toString()).toContain('dlg_tok_legacy');
    expect((await post(bob.value, body)).json().payloads[0].data).toBe(forRoot.json().payloads[0].data);
    const forAlice = await post(alice.value, body);
    expect(forAlice.statusCode).toBe(200);
    expect(forAlice.json()).toEqual(body);
    expect(srv.audits().at(-1)).toMatchObject({ principal: 'alice', decision: 'denied', claimedKeyIds: [KEY_ID], counts: { leftSealed: 1 } });
  });
});

describe('keys import-legacy, list and show on the command line', () => {
  it('imports from an env var without echoing it, lists and shows the key with its kind, and refuses bad input', async () => {
    const file = path.join(dir, 'cli', 'legacy-keys.json');
    const keyring = path.join(dir, 'cli', 'keyring.json');
    const args = ['--keyring', keyring, '--legacy-keys', file];
    expect((await runCli(['keys', 'init', '--keyring', keyring])).code).toBe(0);
    const imported = await runCli(['keys', 'import-legacy', '--id', KEY_ID, '--material-env', 'K', ...args], { env: { K: SAMPLES_KEY_TEXT } });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout + imported.stderr).not.toContain(SAMPLES_KEY_TEXT);
    const list = await runCli(['keys', 'list', ...args, '--json']);
    expect(parseJson<{ keys: { id: string; provider: string; kind?: string; state: string }[] }>(list.stdout).keys.at(-1)).toMatchObject({ id: KEY_ID, provider: 'legacy', kind: 'samples-aes-256-gcm', state: 'decrypt-only' });
    const show = await runCli(['keys', 'show', KEY_ID, ...args]);
    expect(show.stdout).toMatch(/kind:\s+samples-aes-256-gcm/);
    const short = await runCli(['keys', 'import-legacy', '--id', 'other', '--material-stdin', ...args], { input: 'only-31-bytes-long-key-material' });
    expect([short.code, short.stderr]).toEqual([2, expect.stringContaining('32 bytes, got 31')]);
    expect(short.stderr).not.toContain('only-31');
    const twice = await runCli(['keys', 'import-legacy', '--id', KEY_ID, '--material-env', 'K', ...args], { env: { K: SAMPLES_KEY_TEXT } });
    expect([twice.code, twice.stderr]).toEqual([1, expect.stringContaining('already in')]);
    const none = await runCli(['keys', 'import-legacy', '--id', 'x', ...args]);
    expect([none.code, none.stderr]).toEqual([2, expect.stringContaining('exactly one of --material-file')]);
  }, 120_000);
});
