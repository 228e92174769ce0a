import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec, makeScope } from '../codecs/index.js';
import { branchKeyScope, deriveBranchDataKey } from '../primitives/branch-key.js';
import { KmsUnavailableError } from '../primitives/errors.js';
import { payloadsToJson } from '../codecs/payload-json.js';
import { DataKeyCache, LocalKeyring, newKeyringDocument, type GeneratedDataKey, type KeyProvider } from '../keys/index.js';
import { runCli } from '../src/cli/run.js';
import { captureIo } from './cli-support/capture-io.js';
import { CountingProvider } from './support/counting-provider.js';
import { recordCounts } from './support/hardening-counts.js';
import { jsonPayload } from './support/payloads.js';
import { buildTestServer, token } from './support/server-harness.js';

/**
 * Key hygiene: run the server and the CLI through their normal and failing paths, collect every
 * byte they log or print (audit lines, errors, /metrics, CLI output), and look for the plaintext
 * and for every key (KEKs and data keys, in hex, base64 and base64url). None may appear. The one
 * exception is `decode`'s own stdout, whose job is to print plaintext.
 */

const MARKER = 'LEAK-CANARY-5e8d2b';
const captured: { where: string; text: string }[] = [];
const secrets: { name: string; bytes: Buffer }[] = [];

/** A provider that remembers the data keys it hands out, so the test knows what to look for. */
class RecordingProvider extends CountingProvider {
  override async generateDataKey(scope: Parameters<KeyProvider['generateDataKey']>[0]): Promise<GeneratedDataKey> {
    const dk = await super.generateDataKey(scope);
    secrets.push({ name: `DEK for ${scope.workflowId ?? scope.namespace}`, bytes: Buffer.from(dk.plaintext) });
    return dk;
  }
}

function forms(bytes: Buffer): string[] {
  return [bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('base64').slice(0, 24)];
}

afterAll(() => {
  recordCounts('no-leaks', { capturedTexts: captured.length, capturedBytes: captured.reduce((a, c) => a + c.text.length, 0), secretsSearched: secrets.length + 1 });
});

describe('no plaintext or key material in logs, errors, metrics or CLI output', () => {
  it('the codec server, through success, denial, bad input, tampering and a KMS outage', async () => {
    const doc = newKeyringDocument();
    secrets.push({ name: 'KEK', bytes: Buffer.from(doc.keys[0]!.material!, 'base64') });
    const kms = new RecordingProvider(LocalKeyring.fromDocument(doc));
    const root = token('root');
    const other = token('other', ['x']);
    const srv = await buildTestServer(
      {
        auth: { staticTokens: [root.entry, other.entry] },
        policy: { rules: [{ principals: ['root'], namespaces: ['default'], actions: ['decode', 'encode'] }, { groups: ['x'], namespaces: ['default'], workflowIdPatterns: ['none-*'], actions: ['decode'] }] },
        log: { level: 'debug' },
      },
      kms,
    );
    const codec = new EnvelopeCodec({ keyProviders: kms });
    const sealed = payloadsToJson(await codec.encodeInScope([jsonPayload({ m: MARKER })], makeScope('default', 'wf-leak'))).payloads;
    const post = async (url: string, body: unknown, who = root.value, headers: Record<string, string> = {}) => {
      const res = await srv.app.inject({ method: 'POST', url, payload: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', 'x-namespace': 'default', authorization: `Bearer ${who}`, ...headers } });
      if (!(url.endsWith('/decode') && res.statusCode === 200 && who === root.value)) captured.push({ where: `response ${url} ${res.statusCode}`, text: res.body });
      return res;
    };
    await post('/decode', { payloads: sealed }); // allowed: the response holds plaintext, by design (not collected)
    await post('/encode', payloadsToJson([jsonPayload({ m: MARKER })]));
    await post('/decode', { payloads: sealed }, other.value);
    await post('/decode', { payloads: sealed }, 'wrong-token');
    await post('/decode', '{"payloads":[');
    const tampered = structuredClone(sealed) as { data: string }[];
    tampered[0]!.data = Buffer.from(Buffer.from(tampered[0]!.data, 'base64').map((b, i) => (i === 20 ? b ^ 1 : b))).toString('base64');
    await post('/decode', { payloads: tampered });
    kms.failWith = new KmsUnavailableError('KMS down');
    codec.keys.clear();
    srv.codec.keys.clear();
    await post('/decode', { payloads: sealed });
    kms.failWith = undefined;
    await srv.app.inject({ method: 'POST', url: '/login', payload: { token: root.value } }).then((r) => captured.push({ where: 'login', text: r.body + JSON.stringify(r.headers) }));
    captured.push({ where: '/metrics', text: (await srv.app.inject({ method: 'GET', url: '/metrics' })).body });
    captured.push({ where: 'server log', text: srv.lines.join('\n') });
    await srv.app.close();
    expect(srv.lines.length).toBeGreaterThan(5);
  });

  it('the codec server and a codec with branch keys: branch keys and the data keys derived from them', async () => {
    const doc = newKeyringDocument();
    secrets.push({ name: 'KEK (branch run)', bytes: Buffer.from(doc.keys[0]!.material!, 'base64') });
    // RecordingProvider sees each branch key as the data key it generates for a namespace.
    const kms = new RecordingProvider(LocalKeyring.fromDocument(doc));
    const root = token('root');
    const srv = await buildTestServer({ auth: { staticTokens: [root.entry] }, policy: { rules: [{ principals: ['root'], namespaces: ['default'], actions: ['decode', 'encode'] }] }, codec: { keyHierarchy: 'branch' }, log: { level: 'debug' } }, kms);
    const codec = new EnvelopeCodec({ keyProviders: kms, keyHierarchy: 'branch' });
    const sealedPayloads = await codec.encodeInScope([jsonPayload({ m: MARKER })], makeScope('default', 'wf-branch-leak'));
    const bk = await kms.inner.decryptDataKey(doc.keys[0]!.id, sealedPayloads[0]!.metadata!['envelope-branch-key']!, branchKeyScope('default'));
    secrets.push({ name: 'derived DEK of wf-branch-leak', bytes: Buffer.from(deriveBranchDataKey(bk, sealedPayloads[0]!.metadata!['envelope-dek-salt']!, makeScope('default', 'wf-branch-leak'))) });
    const sealed = payloadsToJson(sealedPayloads).payloads;
    const post = async (url: string, body: unknown) => {
      const res = await srv.app.inject({ method: 'POST', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json', 'x-namespace': 'default', authorization: `Bearer ${root.value}` } });
      if (!(url === '/decode' && res.statusCode === 200)) captured.push({ where: `branch response ${url} ${res.statusCode}`, text: res.body });
      return res;
    };
    expect((await post('/decode', { payloads: sealed })).statusCode).toBe(200);
    const encoded = await post('/encode', payloadsToJson([jsonPayload({ m: MARKER })]));
    expect(Buffer.from(encoded.json().payloads[0].metadata['envelope-version'], 'base64').toString()).toBe('2');
    const tampered = structuredClone(sealed) as { metadata: Record<string, string> }[];
    tampered[0]!.metadata['envelope-branch-key'] = Buffer.from(Buffer.from(tampered[0]!.metadata['envelope-branch-key']!, 'base64').map((b, i) => (i === 20 ? b ^ 1 : b))).toString('base64');
    expect((await post('/decode', { payloads: tampered })).statusCode).toBe(422);
    captured.push({ where: '/metrics (branch)', text: (await srv.app.inject({ method: 'GET', url: '/metrics' })).body });
    captured.push({ where: 'server log (branch)', text: srv.lines.join('\n') });
    await srv.app.close();
    codec.close();
  });

  it('the CLI, through init, list, show, rotate, encode, failing decodes and usage errors', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'te-leaks-'));
    const keyring = path.join(dir, 'keyring.json');
    const cli = async (args: string[], input?: string, collectStdout = true) => {
      const base = captureIo({ TEMPORAL_ENVELOPE_KEYRING: keyring });
      const io = input === undefined ? base : { ...base, stdin: Readable.from([input]) };
      await runCli([...args, '--keyring', keyring], io);
      captured.push({ where: `cli ${args.join(' ')} (stderr)`, text: io.err() });
      if (collectStdout) captured.push({ where: `cli ${args.join(' ')} (stdout)`, text: io.out() });
      return io.out();
    };
    await cli(['keys', 'init']);
    await cli(['keys', 'rotate']);
    await cli(['keys', 'list', '--json']);
    const doc = JSON.parse(readFileSync(keyring, 'utf8')) as { keys: { id: string; material: string }[] };
    for (const k of doc.keys) secrets.push({ name: `KEK ${k.id}`, bytes: Buffer.from(k.material, 'base64') });
    await cli(['keys', 'show', doc.keys[0]!.id, '--json']);
    const plain = JSON.stringify(payloadsToJson([jsonPayload({ m: MARKER })]));
    const sealedOut = await cli(['encode', '-w', 'wf-cli'], plain);
    // decode prints plaintext by design (not collected); it shows the canary really went through.
    expect(Buffer.from(JSON.parse(await cli(['decode', '-n', 'default', '-w', 'wf-cli'], sealedOut, false)).payloads[0].data, 'base64').toString()).toContain(MARKER);
    await cli(['decode', '-n', 'default', '-w', 'another-workflow', '--json'], sealedOut);
    await cli(['decode', '-n', 'default', '-w', 'wf-cli'], sealedOut.replace(/"data": ?"(.)/, (_m, c: string) => `"data":"${c === 'A' ? 'B' : 'A'}`));
    await cli(['decode', '--json'], '{not json');
    await cli(['keys', 'retire', 'nope']);
  });

  it('finds none of the secrets anywhere it looked', () => {
    expect(secrets.length).toBeGreaterThan(3);
    const hits: string[] = [];
    for (const c of captured) {
      if (c.text.includes(MARKER)) hits.push(`plaintext marker in ${c.where}`);
      for (const s of secrets) for (const f of forms(s.bytes)) if (c.text.includes(f)) hits.push(`${s.name} in ${c.where}`);
    }
    expect(hits).toEqual([]);
  });

  it('wipes a cached data key when it is evicted', async () => {
    const cache = new DataKeyCache(LocalKeyring.fromDocument(newKeyringDocument()), { maxEntries: 1 });
    await cache.leaseForEncrypt(makeScope('n', 'a'), 'AES-256-GCM', 10);
    // The cache's own copy of the key (private; reached into on purpose, to watch it being wiped).
    const held = [...(cache as unknown as { encrypt: { values(): IterableIterator<{ key: Uint8Array }> } }).encrypt.values()][0]!;
    expect(held.key.some((b) => b !== 0)).toBe(true);
    await cache.leaseForEncrypt(makeScope('n', 'b'), 'AES-256-GCM', 10); // evicts a
    expect(held.key.every((b) => b === 0)).toBe(true);
  });
});
