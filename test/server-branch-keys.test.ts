import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec } from '../codecs/envelope-codec.js';
import { payloadsFromJson, payloadsToJson } from '../codecs/payload-json.js';
import { LocalKeyring } from '../keys/local-keyring.js';
import { newKeyringDocument } from '../keys/keyring-file.js';
import { makeScope } from '../primitives/scope.js';
import { parseJson, runCli } from './cli-support/run-cli.js';
import { CountingProvider } from './support/counting-provider.js';
import { jsonPayload } from './support/payloads.js';
import { buildTestServer, token } from './support/server-harness.js';

/**
 * The codec server and the CLI with format v2: the server opens what branch-mode workers seal with
 * no setting of its own, authorizes each payload from its header before any KMS call, unwraps each
 * branch key once; codec.keyHierarchy / --key-hierarchy decide only what /encode and `encode` seal.
 */

const op = token('op');
const ring = LocalKeyring.fromDocument(newKeyringDocument());
const worker = new EnvelopeCodec({ keyProviders: ring, keyHierarchy: 'branch' });
const seal = async (workflowId: string, value: unknown) => payloadsToJson(await worker.encodeInScope([jsonPayload(value)], makeScope('default', workflowId))).payloads[0]!;
const version = (p: { metadata?: Record<string, string> }) => Buffer.from(p.metadata?.['envelope-version'] ?? '', 'base64').toString();

async function server(codec: Record<string, unknown> = {}) {
  const kms = new CountingProvider(ring);
  const srv = await buildTestServer(
    {
      auth: { staticTokens: [op.entry] },
      policy: { rules: [{ principals: ['op'], namespaces: ['default'], workflowIdPatterns: ['tenant-acme-*'], includeNamespaceScoped: true, actions: ['decode', 'encode'] }] },
      codec,
      rateLimit: { enabled: false },
    },
    kms,
  );
  const post = (url: string, payloads: unknown[]) =>
    srv.app.inject({ method: 'POST', url, payload: { payloads }, headers: { authorization: `Bearer ${op.value}`, 'x-namespace': 'default', 'content-type': 'application/json' } });
  return { srv, kms, post };
}

describe('the codec server with format v2', () => {
  it('decodes what it may, leaves the rest sealed, authorizes before any KMS call and unwraps each branch key once', async () => {
    const { srv, kms, post } = await server();
    const acme = await Promise.all(Array.from({ length: 10 }, (_, i) => seal(`tenant-acme-${i}`, { i })));
    const globex = await seal('tenant-globex-7', 'not for op');
    expect(version(acme[0]!)).toBe('2');

    const denied = await post('/decode', [globex]);
    expect(denied.statusCode).toBe(200);
    expect(denied.json().payloads[0]).toEqual(globex);
    expect(kms.decrypted).toBe(0); // the denied payload's branch key was never unwrapped

    const res = await post('/decode', [...acme, globex]);
    expect(res.statusCode).toBe(200);
    const out = payloadsFromJson(res.json());
    expect(out.slice(0, 10).map((p) => JSON.parse(Buffer.from(p.data!).toString()))).toEqual(Array.from({ length: 10 }, (_, i) => ({ i })));
    expect(payloadsToJson([out[10]!]).payloads[0]).toEqual(globex);
    expect(kms.decrypted).toBe(1); // ten workflows, one branch key
    const audit = srv.audits().at(-1)!;
    expect(audit).toMatchObject({ decision: 'partial', verifiedKeyIds: [ring.primaryKeyId()], counts: { payloads: 11, decoded: 10, leftSealed: 1 } });
    expect(audit.claimedWorkflowIds).toContain('tenant-globex-7'); // left sealed: only claimed
    const metrics = (await srv.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/temporal_envelope_kms_calls_total\{op="decrypt",provider="local",outcome="ok"\} 1\n/);
    await srv.app.close();
  });

  it('a v2 payload with an altered branch key is a 422 naming TAMPERED_CIPHERTEXT, never a 500', async () => {
    const { srv, post } = await server();
    const sealed = await seal('tenant-acme-1', 'x');
    const bk = Buffer.from(sealed.metadata!['envelope-branch-key']!, 'base64');
    bk[30]! ^= 0x04;
    const res = await post('/decode', [{ ...sealed, metadata: { ...sealed.metadata, 'envelope-branch-key': bk.toString('base64') } }]);
    expect(res.statusCode).toBe(422);
    expect(res.json().error.code).toBe('TAMPERED_CIPHERTEXT');
    await srv.app.close();
  });

  it('codec.keyHierarchy decides what /encode seals: v1 by default, v2 with "branch", each opening in the other', async () => {
    for (const [hierarchy, expected] of [
      [undefined, '1'],
      ['branch', '2'],
    ] as const) {
      const { srv, post } = await server(hierarchy === undefined ? {} : { keyHierarchy: hierarchy });
      const res = await post('/encode', payloadsToJson([jsonPayload('from the UI')]).payloads);
      expect(res.statusCode).toBe(200);
      const [sealed] = res.json().payloads as { metadata: Record<string, string> }[];
      expect(version(sealed!)).toBe(expected);
      const other = new EnvelopeCodec({ keyProviders: ring, keyHierarchy: hierarchy === 'branch' ? 'per-workflow' : 'branch' });
      expect(Buffer.from((await other.decode(payloadsFromJson({ payloads: [sealed] })))[0]!.data!).toString()).toBe('"from the UI"');
      await srv.app.close();
    }
  });
});

describe('the CLI with --key-hierarchy', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'te-cli-hierarchy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('encode --key-hierarchy branch seals v2 (and TEMPORAL_ENVELOPE_KEY_HIERARCHY too); decode opens it without the flag; a bad value is a usage error', async () => {
    const keyring = path.join(dir, 'keyring.json');
    expect((await runCli(['keys', 'init', '--keyring', keyring])).code).toBe(0);
    const input = JSON.stringify(payloadsToJson([jsonPayload('hi')]));
    const viaFlag = await runCli(['encode', '--keyring', keyring, '--workflow-id', 'order-1', '--key-hierarchy', 'branch'], { input });
    expect(viaFlag.code, viaFlag.stderr).toBe(0);
    const viaEnv = await runCli(['encode', '--keyring', keyring, '--workflow-id', 'order-1'], { input, env: { TEMPORAL_ENVELOPE_KEY_HIERARCHY: 'branch' } });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    for (const out of [viaFlag.stdout, viaEnv.stdout]) {
      const sealed = parseJson<{ payloads: { metadata: Record<string, string> }[] }>(out).payloads[0]!;
      expect(version(sealed)).toBe('2');
      const dec = await runCli(['decode', '--keyring', keyring, '--namespace', 'default', '--workflow-id', 'order-1'], { input: out });
      expect(dec.code, dec.stderr).toBe(0);
      expect(Buffer.from(parseJson<{ payloads: { data: string }[] }>(dec.stdout).payloads[0]!.data, 'base64').toString()).toBe('"hi"');
    }
    const bad = await runCli(['encode', '--keyring', keyring, '--key-hierarchy', 'tree'], { input });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--key-hierarchy.*tree/s);
  });
});
