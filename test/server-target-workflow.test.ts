import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec, makeScope, peekScope } from '../codecs/index.js';
import { payloadFromJson, payloadsToJson } from '../codecs/payload-json.js';
import { jsonPayload } from './support/payloads.js';
import { buildTestServer, token } from './support/server-harness.js';

/**
 * The codec server's protocol extension, `X-Envelope-Workflow-Id`, and /encode authorized by the
 * same workflow-id rules as /decode: a principal limited to `tenant-acme-*` may seal for its own
 * workflows and for no other, and cannot mint namespace-wide payloads.
 */

const SECRET = 'TARGET-SECRET-5151';
const acme = token('acme-operator'); // tenant-acme-* only
const wide = token('ui-operator'); // tenant-acme-*, and namespace-scoped payloads too
const root = token('root');
const H = 'x-envelope-workflow-id';

let srv: Awaited<ReturnType<typeof buildTestServer>>;
let lenient: Awaited<ReturnType<typeof buildTestServer>>;
let seal: (wf?: string) => Promise<unknown>;

const policy = {
  onDeny: 'leave-sealed' as const,
  rules: [
    { principals: ['acme-operator'], namespaces: ['default'], workflowIdPatterns: ['tenant-acme-*'], actions: ['decode' as const, 'encode' as const] },
    { principals: ['ui-operator'], namespaces: ['default'], workflowIdPatterns: ['tenant-acme-*'], includeNamespaceScoped: true, actions: ['decode' as const, 'encode' as const] },
    { principals: ['root'], namespaces: ['*'], actions: ['decode' as const, 'encode' as const] },
  ],
};

beforeAll(async () => {
  srv = await buildTestServer({ cors: { origins: ['http://localhost:8233'] }, auth: { staticTokens: [acme.entry, wide.entry, root.entry] }, policy });
  lenient = await buildTestServer({ auth: { staticTokens: [acme.entry, wide.entry, root.entry] }, policy, codec: { acceptNamespaceScoped: true } }, srv.keyring);
  const codec = new EnvelopeCodec({ keyProviders: srv.keyring });
  seal = async (wf?: string) => payloadsToJson(await codec.encodeInScope([jsonPayload({ secret: SECRET, wf })], makeScope('default', wf))).payloads[0];
});
afterAll(async () => {
  await srv?.app.close();
  await lenient?.app.close();
});

const post = (app: typeof srv.app, url: string, body: unknown, headers: Record<string, string | string[]> = {}) =>
  app.inject({ method: 'POST', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers } });
const as = (t: { value: string }, target?: string) => ({ authorization: `Bearer ${t.value}`, ...(target === undefined ? {} : { [H]: target }) });
const plain = () => payloadsToJson([jsonPayload({ secret: SECRET })]);
const sealedFor = (res: { json(): { payloads: unknown[] } }) => peekScope(payloadFromJson(res.json().payloads[0]))?.scope;
const texts = (res: { json(): { payloads: { data: string }[] } }) => res.json().payloads.map((p) => Buffer.from(p.data, 'base64').toString());

describe('/encode: the same workflow-id rules as /decode', () => {
  it('seals for the workflow the caller names, if a rule allows the caller that workflow', async () => {
    const res = await post(srv.app, '/encode', plain(), as(acme, 'tenant-acme-42'));
    expect(res.statusCode, res.body).toBe(200);
    expect(sealedFor(res)).toEqual({ namespace: 'default', workflowId: 'tenant-acme-42' });
    expect(srv.audits().at(-1)).toMatchObject({ route: '/encode', principal: 'acme-operator', targetWorkflowId: 'tenant-acme-42', verifiedWorkflowIds: ['tenant-acme-42'], status: 200 });
  });

  it('refuses to seal for a workflow outside the caller\'s patterns (403, nothing sealed)', async () => {
    const res = await post(srv.app, '/encode', plain(), as(acme, 'tenant-globex-7'));
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toEqual({ code: 'FORBIDDEN', message: 'acme-operator may not encode for workflow "tenant-globex-7" in namespace "default"' });
    expect(res.body).not.toContain('binary');
    expect(srv.audits().at(-1)).toMatchObject({ route: '/encode', targetWorkflowId: 'tenant-globex-7', status: 403, decision: 'denied' });
  });

  it('a caller limited to patterns cannot mint namespace-wide payloads; includeNamespaceScoped or no patterns can', async () => {
    const limited = await post(srv.app, '/encode', plain(), as(acme));
    expect(limited.statusCode).toBe(403);
    expect(limited.json().error.message).toMatch(/may not encode namespace-scoped payloads in namespace "default" .*X-Envelope-Workflow-Id/);
    for (const who of [wide, root]) {
      const ok = await post(srv.app, '/encode', plain(), as(who));
      expect(ok.statusCode).toBe(200);
      expect(sealedFor(ok)).toEqual({ namespace: 'default' });
    }
  });

  it('reads the id byte for byte: percent-encoded or raw UTF-8, a leading BOM and NUL kept', async () => {
    for (const [sent, id] of [
      ['tenant-acme-%EF%BB%BFbom', 'tenant-acme-\ufeffbom'],
      ['tenant-acme-nul%00x', 'tenant-acme-nul\0x'],
      ['tenant-acme-100%25', 'tenant-acme-100%'],
      // Raw UTF-8 as a header carries it: Node hands the bytes over as latin1 characters.
      [Buffer.from('tenant-acme-ünï😀', 'utf8').toString('latin1'), 'tenant-acme-ünï😀'],
    ] as const) {
      const res = await post(srv.app, '/encode', plain(), as(acme, sent));
      expect(res.statusCode, `${sent}: ${res.body}`).toBe(200);
      const meta = res.json().payloads[0].metadata as Record<string, string>;
      expect(Buffer.from(meta['envelope-workflow-id']!, 'base64').equals(Buffer.from(id, 'utf8'))).toBe(true);
    }
  });

  it('answers 400 naming the header for a value that is no workflow id', async () => {
    const cases: [string | string[], RegExp][] = [
      ['tenant-acme-%zz', /"%" that is not followed by two hex digits/],
      ['tenant-acme-%ff', /not UTF-8/],
      ['tenant-acme-%ED%A0%80', /not UTF-8/], // an encoded lone surrogate
      ['', /non-empty/],
      [`tenant-acme-${'x'.repeat(1020)}`, /at most 1024 UTF-8 bytes/],
    ];
    for (const [value, message] of cases) {
      const res = await post(srv.app, '/encode', plain(), { ...as(acme), [H]: value });
      expect(res.statusCode, String(value)).toBe(400);
      expect(res.json().error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(message) });
      expect(res.json().error.message).toMatch(/^X-Envelope-Workflow-Id/);
    }
  });

  it('is allowed in CORS preflights', async () => {
    const res = await srv.app.inject({
      method: 'OPTIONS',
      url: '/encode',
      headers: { origin: 'http://localhost:8233', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace,x-envelope-workflow-id' },
    });
    expect(res.statusCode).toBe(204);
    expect(String(res.headers['access-control-allow-headers'])).toMatch(/X-Envelope-Workflow-Id/i);
  });
});

describe('/decode with a target workflow: what a worker in that workflow would accept', () => {
  it('opens payloads sealed for the workflow, and for the schedule action it is a run of', async () => {
    const res = await post(srv.app, '/decode', { payloads: [await seal('tenant-acme-42')] }, as(acme, 'tenant-acme-42'));
    expect(res.statusCode).toBe(200);
    expect(texts(res)[0]).toContain(SECRET);
    const run = await post(srv.app, '/decode', { payloads: [await seal('tenant-acme-nightly')] }, as(acme, 'tenant-acme-nightly-2026-11-25T15:14:31Z'));
    expect(run.statusCode, run.body).toBe(200);
    expect(texts(run)[0]).toContain(SECRET);
  });

  it('refuses (422 SCOPE_MISMATCH) a payload of another workflow, and a namespace-scoped one unless the server accepts them', async () => {
    const other = await post(srv.app, '/decode', { payloads: [await seal('tenant-acme-41')] }, as(acme, 'tenant-acme-42'));
    expect(other.statusCode).toBe(422);
    expect(other.json().error).toMatchObject({ code: 'SCOPE_MISMATCH', message: expect.stringMatching(/^payloads\[0\]: payload sealed for workflow "tenant-acme-41"/) });
    expect(other.body).not.toContain(SECRET);

    const ns = await seal();
    const refused = await post(srv.app, '/decode', { payloads: [ns] }, as(wide, 'tenant-acme-42'));
    expect(refused.statusCode).toBe(422);
    expect(refused.json().error.message).toMatch(/namespace-scoped payload rejected in workflow "tenant-acme-42"/);
    const accepted = await post(lenient.app, '/decode', { payloads: [ns] }, as(wide, 'tenant-acme-42'));
    expect(accepted.statusCode).toBe(200);
    expect(texts(accepted)[0]).toContain(SECRET);
    // Without a target the payload is authorized by its own (namespace) scope, as before.
    expect(texts(await post(srv.app, '/decode', { payloads: [ns] }, as(wide)))[0]).toContain(SECRET);
  });

  it('is refused (403) to a caller not allowed the target workflow, whatever the payloads', async () => {
    const res = await post(srv.app, '/decode', { payloads: [await seal('tenant-globex-7')] }, as(acme, 'tenant-globex-7'));
    expect(res.statusCode).toBe(403);
    expect(res.json().error.message).toBe('acme-operator may not decode for workflow "tenant-globex-7" in namespace "default"');
    expect(res.body).not.toContain(SECRET);
  });

  it('still authorizes every payload by its own sealed scope: a target the caller may see does not open another tenant\'s payload', async () => {
    // Sealed for globex; the caller names an acme workflow. The policy check on the payload comes
    // first and leaves it sealed (the scope check would refuse it too).
    const globex = await seal('tenant-globex-7');
    const res = await post(srv.app, '/decode', { payloads: [globex] }, as(acme, 'tenant-acme-42'));
    expect(res.statusCode).toBe(200);
    expect(res.json().payloads[0]).toEqual(globex);
    expect(srv.audits().at(-1)).toMatchObject({ decision: 'denied', targetWorkflowId: 'tenant-acme-42', counts: { leftSealed: 1 } });
  });

  it('works over a real socket with the header as the temporal CLI sends it (raw UTF-8 bytes)', async () => {
    const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const id = 'tenant-acme-ü-1';
      const body = JSON.stringify(plain());
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${url}/encode`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-namespace': 'default', authorization: `Bearer ${acme.value}`, [H]: Buffer.from(id, 'utf8').toString('latin1') },
        });
        req.on('response', (r) => {
          let text = '';
          r.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve({ status: r.statusCode ?? 0, body: text }));
        });
        req.on('error', reject);
        // A Buffer, not a string: node writes the headers together with a first string chunk in
        // that chunk's encoding (UTF-8), which would encode the latin1 header value a second time.
        req.end(Buffer.from(body));
      });
      expect(res.status, res.body).toBe(200);
      expect(peekScope(payloadFromJson((JSON.parse(res.body) as { payloads: unknown[] }).payloads[0]))?.scope.workflowId).toBe(id);
    } finally {
      await srv.app.close();
    }
  });
});
