import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec, makeScope } from '../codecs/index.js';
import { payloadsToJson } from '../codecs/payload-json.js';
import { startJwtIssuer } from './support/jwt-issuer.js';
import { jsonPayload } from './support/payloads.js';
import { buildTestServer, token } from './support/server-harness.js';

const SECRET = 'SECRET-MARKER-4242';
const alice = token('alice', ['tenant-a-ops']); // tenant-a workflows only
const root = token('root');
const writer = token('writer');
const revoked = token('mallory', [], true);
const outsider = token('outsider');

let issuer: Awaited<ReturnType<typeof startJwtIssuer>>;
let srv: Awaited<ReturnType<typeof buildTestServer>>;
let sealed: { a: unknown; b: unknown; ns: unknown; otherNs: unknown };

beforeAll(async () => {
  issuer = await startJwtIssuer();
  srv = await buildTestServer({
    cors: { origins: ['http://localhost:8233'] },
    auth: {
      staticTokens: [alice.entry, root.entry, writer.entry, revoked.entry, outsider.entry],
      jwt: { jwksUrl: issuer.jwksUrl, issuer: issuer.issuer, audience: issuer.audience, clockToleranceSeconds: 5 },
    },
    policy: {
      onDeny: 'leave-sealed',
      rules: [
        { groups: ['tenant-a-ops'], namespaces: ['default'], workflowIdPatterns: ['tenant-a/*'], actions: ['decode'] },
        { principals: ['root'], namespaces: ['*'], actions: ['decode', 'encode'] },
        { principals: ['writer'], namespaces: ['default'], actions: ['encode'] },
        { groups: ['sre'], namespaces: ['default'], actions: ['decode'] },
      ],
    },
    server: { bodyLimitBytes: 64 * 1024, maxPayloadsPerRequest: 50 },
  });
  const codec = new EnvelopeCodec({ keyProviders: srv.keyring });
  const seal = async (ns: string, wf?: string) => payloadsToJson(await codec.encodeInScope([jsonPayload({ secret: SECRET, wf })], makeScope(ns, wf))).payloads[0];
  sealed = { a: await seal('default', 'tenant-a/grant-1'), b: await seal('default', 'tenant-b/grant-2'), ns: await seal('default'), otherNs: await seal('other', 'tenant-a/x') };
});
afterAll(async () => {
  await srv?.app.close();
  await issuer?.stop();
});

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  srv.app.inject({ method: 'POST', url, payload: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers } });
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const decodedText = (res: { json(): { payloads: { data: string }[] } }) => res.json().payloads.map((p) => Buffer.from(p.data, 'base64').toString());

describe('codec server protocol', () => {
  it('decodes for an authorized operator and leaves other tenants sealed', async () => {
    const res = await post('/decode', { payloads: [sealed.a, sealed.b, sealed.ns] }, bearer(alice.value));
    expect(res.statusCode).toBe(200);
    const [a, b, ns] = decodedText(res);
    expect(a).toContain(SECRET);
    expect(b).not.toContain(SECRET);
    expect(ns).not.toContain(SECRET);
    expect(res.json().payloads[1]).toEqual(sealed.b);
    const line = srv.audits().at(-1)!;
    expect(line).toMatchObject({ route: '/decode', principal: 'alice', namespace: 'default', decision: 'partial', status: 200, counts: { decoded: 1, leftSealed: 2 } });
    expect(line.workflowIds).toEqual(expect.arrayContaining(['tenant-a/grant-1', 'tenant-b/grant-2']));
  });

  it('round-trips /encode then /decode, and an empty batch', async () => {
    const input = payloadsToJson([jsonPayload('hello')]);
    const enc = await post('/encode', input, bearer(root.value));
    expect(enc.statusCode).toBe(200);
    expect(Buffer.from(enc.json().payloads[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
    const dec = await post('/decode', enc.json(), bearer(root.value));
    expect(dec.json()).toEqual(input);
    expect((await post('/decode', { payloads: [] }, bearer(root.value))).json()).toEqual({ payloads: [] });
  });

  it('never decodes a payload sealed for another namespace than X-Namespace', async () => {
    const res = await post('/decode', { payloads: [sealed.otherNs] }, { ...bearer(root.value), 'x-namespace': 'default' });
    expect(res.statusCode).toBe(200);
    expect(decodedText(res)[0]).not.toContain(SECRET);
  });

  it('passes through payloads that are not ours, so the UI renders them as they are', async () => {
    const plain = payloadsToJson([jsonPayload('plain')]).payloads[0]!;
    const foreign = { metadata: { encoding: Buffer.from('binary/encrypted').toString('base64') }, data: 'AAAA' };
    const res = await post('/decode', { payloads: [plain, foreign, sealed.a] }, bearer(root.value));
    expect(res.statusCode).toBe(200);
    const out = res.json().payloads;
    expect(out[0]).toEqual(plain);
    expect(out[1]).toEqual(foreign);
    expect(decodedText(res)[2]).toContain(SECRET);
    expect(srv.audits().at(-1)).toMatchObject({ counts: { passthrough: 2, decoded: 1, failed: 0 } });
  });

  it('rejects a batch holding a tampered payload or an unknown key id with 422 naming the payload', async () => {
    const tampered = structuredClone(sealed.a) as { data: string };
    const bytes = Buffer.from(tampered.data, 'base64');
    bytes[bytes.length - 1]! ^= 1;
    tampered.data = bytes.toString('base64');
    const res = await post('/decode', { payloads: [sealed.a, tampered] }, bearer(root.value));
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatchObject({ code: 'TAMPERED_CIPHERTEXT', message: expect.stringMatching(/^payloads\[1\]: /) });
    expect(res.body).not.toContain(SECRET);
    expect(srv.audits().at(-1)).toMatchObject({ status: 422, decision: 'invalid', error: 'TAMPERED_CIPHERTEXT' });

    const unknown = structuredClone(sealed.a) as { metadata: Record<string, string> };
    unknown.metadata['encryption-key-id'] = Buffer.from('local-9-deadbeef').toString('base64');
    const res2 = await post('/decode', { payloads: [unknown] }, bearer(root.value));
    expect(res2.statusCode).toBe(422);
    expect(res2.json().error).toMatchObject({ code: 'UNKNOWN_KEY', message: expect.stringContaining('local-9-deadbeef') });
  });
});

describe('authentication and authorization', () => {
  const cases: [string, Record<string, string>, number, RegExp][] = [
    ['no credentials', {}, 401, /no credentials/],
    ['malformed header', { authorization: 'Basic abc' }, 401, /Bearer/],
    ['unknown token', bearer('nope'), 401, /not recognised/],
    ['revoked token', bearer(revoked.value), 401, /revoked/],
    ['token with no rule', bearer(outsider.value), 403, /may not decode/],
    ['encode-only token decoding', bearer(writer.value), 403, /may not decode/],
    ['wrong namespace', { ...bearer(alice.value), 'x-namespace': 'other' }, 403, /namespace "other"/],
  ];
  for (const [name, headers, status, message] of cases) {
    it(`${name}: ${status} and no plaintext`, async () => {
      const res = await post('/decode', { payloads: [sealed.a] }, headers);
      expect(res.statusCode).toBe(status);
      expect(res.json().error.message).toMatch(message);
      expect(res.json().payloads).toBeUndefined();
      expect(res.body).not.toContain(SECRET);
    });
  }

  it('accepts a valid JWT with group claims, and refuses expired, forged, wrong-issuer and wrong-audience tokens', async () => {
    const good = await issuer.sign({ sub: 'bob', groups: ['sre'] });
    const ok = await post('/decode', { payloads: [sealed.b] }, bearer(good));
    expect(ok.statusCode).toBe(200);
    expect(decodedText(ok)[0]).toContain(SECRET);
    const bad: [string, string, RegExp][] = [
      ['expired', await issuer.sign({ sub: 'bob', groups: ['sre'] }, { exp: Math.floor(Date.now() / 1000) - 60 }), /expired/],
      ['forged', await issuer.sign({ sub: 'bob', groups: ['sre'] }, { rogue: true }), /signature/],
      ['wrong issuer', await issuer.sign({ sub: 'bob' }, { iss: 'https://evil.example/' }), /iss/],
      ['wrong audience', await issuer.sign({ sub: 'bob' }, { aud: 'other-app' }), /aud/],
    ];
    for (const [, jwt, message] of bad) {
      const res = await post('/decode', { payloads: [sealed.b] }, bearer(jwt));
      expect(res.statusCode).toBe(401);
      expect(res.json().error.message).toMatch(message);
    }
  });

  it('refuses the whole request with 403 when the policy says forbid', async () => {
    const strict = await buildTestServer(
      { auth: { staticTokens: [alice.entry] }, policy: { onDeny: 'forbid', rules: [{ groups: ['tenant-a-ops'], namespaces: ['default'], workflowIdPatterns: ['tenant-a/*'], actions: ['decode'] }] } },
      srv.keyring,
    );
    const res = await strict.app.inject({ method: 'POST', url: '/decode', payload: { payloads: [sealed.a, sealed.b] }, headers: { ...bearer(alice.value), 'x-namespace': 'default' } });
    expect(res.statusCode).toBe(403);
    expect(res.body).not.toContain(SECRET);
    expect(strict.audits().at(-1)).toMatchObject({ decision: 'denied', status: 403 });
    await strict.app.close();
  });

  it('issues a session cookie after a token login, usable for /decode, and never stores the token in it', async () => {
    // As the login page's own form posts it (same origin: see test/login-csrf.test.ts).
    const fromLoginPage = { host: 'localhost:80', origin: 'http://localhost', 'sec-fetch-site': 'same-origin' };
    const login = await srv.app.inject({ method: 'POST', url: '/login', payload: `token=${encodeURIComponent(alice.value)}`, headers: { 'content-type': 'application/x-www-form-urlencoded', ...fromLoginPage } });
    expect(login.statusCode).toBe(200);
    const cookie = String(login.headers['set-cookie']);
    expect(cookie).toMatch(/te_session=.+; Path=\/; HttpOnly; SameSite=Lax/);
    expect(cookie).not.toContain(alice.value);
    const res = await post('/decode', { payloads: [sealed.a] }, { cookie: cookie.split(';')[0]! });
    expect(decodedText(res)[0]).toContain(SECRET);
    const forged = await post('/decode', { payloads: [sealed.a] }, { cookie: `te_session=${Buffer.from('{"sub":"root","exp":9999999999}').toString('base64url')}.AAAA` });
    expect(forged.statusCode).toBe(401);
    const failed = await srv.app.inject({ method: 'POST', url: '/login', payload: { token: 'wrong' } });
    expect(failed.statusCode).toBe(401);
    expect((await srv.app.inject({ method: 'GET', url: '/login' })).body).toContain('<form method="post" action="/login">');
  });
});

describe('bad input', () => {
  const auth = bearer(root.value);
  const cases: [string, string, Record<string, string>, number, RegExp][] = [
    ['malformed JSON', '{"payloads": [', {}, 400, /not valid JSON/],
    ['empty body', '', {}, 400, /empty/],
    ['payloads not an array', '{"payloads": {}}', {}, 400, /"payloads" expected an array/],
    ['payload not an object', '{"payloads": [1]}', {}, 400, /payloads\[0\] expected an object/],
    ['bad base64 data', '{"payloads": [{"data": "@@@"}]}', {}, 400, /payloads\[0\]\.data is not valid base64/],
    ['bad base64 metadata', '{"payloads": [{"metadata": {"encoding": "%%"}}]}', {}, 400, /metadata\["encoding"\] is not valid base64/],
    ['wrong type', '{"payloads": [{"data": 5}]}', {}, 400, /expected a base64 string/],
    ['too many payloads', JSON.stringify({ payloads: Array.from({ length: 51 }, () => ({})) }), {}, 400, /at most 50/],
    ['oversized body', JSON.stringify({ payloads: [{ data: 'A'.repeat(70_000) }] }), {}, 413, /larger than this server accepts \(server.bodyLimitBytes\)/],
    ['wrong content type', 'payloads', { 'content-type': 'application/xml' }, 415, /application\/json/],
    ['bad namespace header', '{"payloads": []}', { 'x-namespace': 'a b' }, 400, /X-Namespace/],
  ];
  for (const [name, body, headers, status, message] of cases) {
    it(`${name}: ${status} with a message`, async () => {
      const res = await post('/decode', body, { ...auth, ...headers });
      expect(res.statusCode).toBe(status);
      expect(res.json().error.message).toMatch(message);
    });
  }

  it('answers unknown routes with 404 JSON', async () => {
    const res = await srv.app.inject({ method: 'GET', url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('NOT_FOUND');
  });
});

describe('operating it', () => {
  it('answers CORS preflights for configured origins only, with credentials', async () => {
    const pre = (origin: string) =>
      srv.app.inject({ method: 'OPTIONS', url: '/decode', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-namespace' } });
    const ok = await pre('http://localhost:8233');
    expect(ok.statusCode).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe('http://localhost:8233');
    expect(ok.headers['access-control-allow-credentials']).toBe('true');
    expect(String(ok.headers['access-control-allow-headers'])).toMatch(/X-Namespace/i);
    const evil = await pre('https://evil.example');
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('serves health, readiness and metrics', async () => {
    expect((await srv.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await srv.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    const metrics = (await srv.app.inject({ url: '/metrics' })).body;
    for (const name of ['temporal_envelope_requests_total', 'temporal_envelope_payloads_total', 'temporal_envelope_request_duration_seconds', 'temporal_envelope_kms_calls_total', 'temporal_envelope_dek_cache_events_total', 'temporal_envelope_dek_cache_entries']) {
      expect(metrics).toContain(name);
    }
    expect(metrics).toMatch(/temporal_envelope_requests_total\{route="\/decode",status="401",decision="unauthenticated"\} \d+/);
  });

  it('works over a real socket, and the audit log holds no plaintext, tokens or key bytes', async () => {
    await srv.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = srv.app.server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/decode`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...bearer(alice.value) }, body: JSON.stringify({ payloads: [sealed.a] }) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { payloads: { data: string }[] };
    expect(decodedText({ json: () => body })[0]).toContain(SECRET);
    const log = srv.lines.join('\n');
    expect(log).not.toContain(SECRET);
    for (const t of [alice.value, root.value, writer.value]) expect(log).not.toContain(t);
    expect(log).not.toContain((sealed.a as { metadata: Record<string, string> }).metadata['envelope-dek']);
  });
});

describe('key failures at the HTTP edge', () => {
  it('KMS down is a retryable 503 with Retry-After; a retired or denied key leaves the payload sealed', async () => {
    const { CountingProvider } = await import('./support/counting-provider.js');
    const { LocalKeyring } = await import('../keys/local-keyring.js');
    const { newKeyringDocument } = await import('../keys/keyring-file.js');
    const { KmsUnavailableError, KeyRetiredError } = await import('../primitives/errors.js');
    const kms = new CountingProvider(LocalKeyring.fromDocument(newKeyringDocument()));
    const s = await buildTestServer({ auth: { staticTokens: [root.entry] }, policy: { rules: [{ principals: ['root'], namespaces: ['*'], actions: ['decode', 'encode'] }] } }, kms);
    const sealedHere = payloadsToJson(await new EnvelopeCodec({ keyProviders: kms }).encodeInScope([jsonPayload({ secret: SECRET })], makeScope('default', 'wf-kms'))).payloads;
    const call = () => s.app.inject({ method: 'POST', url: '/decode', payload: { payloads: sealedHere }, headers: { ...bearer(root.value), 'x-namespace': 'default' } });

    kms.failWith = new KmsUnavailableError('KMS endpoint unreachable (ECONNREFUSED)');
    const down = await call();
    expect(down.statusCode).toBe(503);
    expect(down.headers['retry-after']).toBe('1');
    expect(down.json().error).toMatchObject({ code: 'KMS_UNAVAILABLE', message: expect.stringContaining('payloads[0]') });

    kms.failWith = new KeyRetiredError('key local-1 is retired');
    const retired = await call();
    expect(retired.statusCode).toBe(200);
    expect(retired.json().payloads).toEqual(sealedHere);
    expect(s.audits().at(-1)).toMatchObject({ counts: { failed: 1 }, failures: { KEY_RETIRED: 1 } });

    kms.failWith = undefined;
    const back = await call();
    expect(back.statusCode).toBe(200);
    expect(decodedText(back)[0]).toContain(SECRET);
    await s.app.close();
  });
});

describe('namespace in the path (the CLI\'s --codec-endpoint https://codec/{namespace})', () => {
  it('serves /{namespace}/decode and /{namespace}/encode, and refuses a path and header that disagree', async () => {
    const enc = await srv.app.inject({ method: 'POST', url: '/default/encode', payload: payloadsToJson([jsonPayload('via-path')]), headers: { ...bearer(root.value) } });
    expect(enc.statusCode).toBe(200);
    const dec = await srv.app.inject({ method: 'POST', url: '/default/decode', payload: enc.json(), headers: { ...bearer(root.value) } });
    expect(decodedText(dec)).toEqual(['"via-path"']);
    const other = await srv.app.inject({ method: 'POST', url: '/other/decode', payload: enc.json(), headers: { ...bearer(root.value) } });
    expect(decodedText(other)[0]).not.toContain('via-path'); // sealed for "default": never opened for "other"
    const clash = await srv.app.inject({ method: 'POST', url: '/other/decode', payload: enc.json(), headers: { ...bearer(root.value), 'x-namespace': 'default' } });
    expect(clash.statusCode).toBe(400);
    expect(clash.json().error.message).toContain('differ');
    const bad = await srv.app.inject({ method: 'POST', url: '/bad%20ns/decode', payload: enc.json(), headers: { ...bearer(root.value) } });
    expect(bad.statusCode).toBe(400);
  });
});
