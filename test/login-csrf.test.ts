import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../src/config/schema.js';
import { buildTestServer, token } from './support/server-harness.js';

/**
 * Login CSRF (issue 15 item 6): a page on another origin could POST a form with the attacker's
 * token to /login and plant the attacker's session in the victim's browser (then the victim's UI
 * decodes as the attacker, and whatever the victim encodes is the attacker's to read), or POST to
 * /logout. /login and /logout now accept only requests from this server's own origin: an Origin
 * equal to it, or — without Origin — a Sec-Fetch-Site of same-origin or none; a JSON body without
 * either header (a non-browser client: a browser cannot send JSON cross-origin without a CORS
 * preflight, and browsers that preflight send Origin) is accepted too.
 */

const attacker = token('attacker', ['sre']);
const victim = token('victim', ['sre']);
const HOST = 'codec.test:8888';
const OWN = 'http://codec.test:8888';
const servers: Awaited<ReturnType<typeof buildTestServer>>[] = [];
let srv: Awaited<ReturnType<typeof buildTestServer>>;

async function server(extra: ConfigInput = {}) {
  const s = await buildTestServer({
    cors: { origins: ['http://localhost:8233'] },
    auth: { staticTokens: [attacker.entry, victim.entry], session: { secret: randomBytes(32).toString('base64') } },
    policy: { rules: [{ groups: ['sre'], namespaces: ['default'], actions: ['decode'] }] },
    ...extra,
  });
  servers.push(s);
  return s;
}

beforeAll(async () => {
  srv = await server();
});
afterAll(async () => {
  for (const s of servers) await s.app.close();
});

const form = (t: string) => `token=${encodeURIComponent(t)}`;
const postForm = (url: string, headers: Record<string, string>, body = form(attacker.value), s = srv) =>
  s.app.inject({ method: 'POST', url, payload: body, headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded', ...headers } });
const postJson = (url: string, headers: Record<string, string>, s = srv) =>
  s.app.inject({ method: 'POST', url, payload: { token: attacker.value }, headers: { host: HOST, 'content-type': 'application/json', ...headers } });

describe('cross-origin POSTs to /login and /logout are refused, and set no cookie', () => {
  const refused: [string, Record<string, string>][] = [
    ['a form on another site', { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }],
    ['a form on another origin of the same site', { origin: 'http://codec.test:9999', 'sec-fetch-site': 'same-site' }],
    ['the configured Temporal UI origin (it does not log in here)', { origin: 'http://localhost:8233', 'sec-fetch-site': 'same-site' }],
    ['https of the same host', { origin: 'https://codec.test:8888' }],
    ['a look-alike host', { origin: 'http://codec.test:8888.evil.example' }],
    ['Origin: null (sandboxed frame, redirect)', { origin: 'null' }],
    ['no Origin but Sec-Fetch-Site cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['no Origin but Sec-Fetch-Site same-site', { 'sec-fetch-site': 'same-site' }],
    ['a form with neither Origin nor Sec-Fetch-Site (cannot tell where it came from)', {}],
    ['a same Origin contradicted by Sec-Fetch-Site', { origin: OWN, 'sec-fetch-site': 'cross-site' }],
  ];
  for (const [name, headers] of refused) {
    it(`/login from ${name}: 403`, async () => {
      const res = await postForm('/login', headers);
      expect(res.statusCode).toBe(403);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.body).toMatch(/own origin|server&#39;s login page/);
    });
  }

  it('JSON from another origin: 403 JSON', async () => {
    const res = await postJson('/login', { origin: 'https://evil.example' });
    expect(res.statusCode).toBe(403);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.json().error.code).toBe('FORBIDDEN');
  });

  it('/logout from another origin: 403, and the session lives on', async () => {
    const login = await postForm('/login', { origin: OWN, 'sec-fetch-site': 'same-origin' }, form(victim.value));
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const out = await srv.app.inject({ method: 'POST', url: '/logout', headers: { host: HOST, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', cookie } });
    expect(out.statusCode).toBe(403);
    expect(out.headers['set-cookie']).toBeUndefined();
    const still = await srv.app.inject({ method: 'POST', url: '/decode', payload: { payloads: [] }, headers: { 'content-type': 'application/json', 'x-namespace': 'default', cookie } });
    expect(still.statusCode).toBe(200);
  });

  it('refusals are audited', async () => {
    await postForm('/login', { origin: 'https://evil.example' });
    expect(srv.audits().at(-1)).toMatchObject({ route: '/login', decision: 'denied', error: 'CROSS_ORIGIN' });
  });
});

describe('same-origin POSTs still work', () => {
  const accepted: [string, Record<string, string>][] = [
    ['the login page itself (Origin and Sec-Fetch-Site)', { origin: OWN, 'sec-fetch-site': 'same-origin' }],
    ['Origin only (a browser without Fetch Metadata)', { origin: OWN }],
    ['Origin in another case', { origin: 'HTTP://CODEC.TEST:8888' }],
    ['no Origin, Sec-Fetch-Site same-origin', { 'sec-fetch-site': 'same-origin' }],
    ['no Origin, Sec-Fetch-Site none (typed or bookmarked)', { 'sec-fetch-site': 'none' }],
  ];
  for (const [name, headers] of accepted) {
    it(`/login from ${name}: 200 and a cookie`, async () => {
      const res = await postForm('/login', headers);
      expect(res.statusCode).toBe(200);
      expect(String(res.headers['set-cookie'])).toMatch(/^te_session=/);
    });
  }

  it('the default port may be left out of the Origin', async () => {
    const res = await srv.app.inject({ method: 'POST', url: '/login', payload: form(attacker.value), headers: { host: 'codec.test:80', origin: 'http://codec.test', 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.statusCode).toBe(200);
  });

  it('JSON without Origin or Sec-Fetch-Site (curl, scripts): 200', async () => {
    expect((await postJson('/login', {})).statusCode).toBe(200);
  });

  it('/logout from the login page: 200 and the cookie cleared', async () => {
    const out = await srv.app.inject({ method: 'POST', url: '/logout', headers: { host: HOST, origin: OWN, 'sec-fetch-site': 'same-origin' } });
    expect(out.statusCode).toBe(200);
    expect(String(out.headers['set-cookie'])).toMatch(/Max-Age=0/);
  });

  it('behind a TLS proxy: with trustProxy the own origin is the forwarded one; without, it is not', async () => {
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'codec.example.com', origin: 'https://codec.example.com', 'sec-fetch-site': 'same-origin' };
    const trusting = await server({ server: { trustProxy: true } });
    expect((await postForm('/login', forwarded, form(attacker.value), trusting)).statusCode).toBe(200);
    const plain = await server();
    const res = await postForm('/login', forwarded, form(attacker.value), plain);
    expect(res.statusCode).toBe(403);
    expect(res.body).toMatch(/trustProxy/);
  });

  it('GET /login (the page) is served to anyone', async () => {
    const res = await srv.app.inject({ method: 'GET', url: '/login', headers: { host: HOST, origin: 'https://evil.example' } });
    expect(res.statusCode).toBe(200);
  });
});
