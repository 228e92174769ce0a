import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecentSignInHosts } from '../src/server/auth/session-hints.js';
import { buildTestServer, token } from './support/server-harness.js';

/**
 * Why a request came without credentials, said where the operator looks. The Temporal UI shows only
 * "Codec Server could not connect" for a 401 and the temporal CLI only "context deadline exceeded",
 * so the reason goes in the 401 body, in the audit line of the server's log, and (before it happens)
 * on the login page: signing in at 127.0.0.1:8888 while the UI calls localhost:8888, a UI on another
 * site than the endpoint it calls, "Include cross-origin credentials" off, a CLI without --codec-auth.
 */
const op = token('operator', ['sre']);
let srv: Awaited<ReturnType<typeof buildTestServer>>;

beforeAll(async () => {
  srv = await buildTestServer({
    cors: { origins: ['http://localhost:8233'] },
    auth: { staticTokens: [op.entry], session: { secret: randomBytes(32).toString('base64') } },
    policy: { rules: [{ groups: ['sre'], namespaces: ['default'], actions: ['decode'] }] },
  });
});
afterAll(async () => srv.app.close());

const decode = (headers: Record<string, string>) =>
  srv.app.inject({ method: 'POST', url: '/decode', headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers }, payload: { payloads: [] } });

async function expect401(headers: Record<string, string>): Promise<string> {
  const res = await decode(headers);
  expect(res.statusCode).toBe(401);
  const message = (res.json() as { error: { code: string; message: string } }).error.message;
  // The same words in the server's log, for whoever cannot see the body (the UI, the temporal CLI).
  expect(srv.audits().at(-1)).toMatchObject({ route: '/decode', status: 401, error: 'UNAUTHENTICATED', reason: message });
  return message;
}

describe('a request without credentials', () => {
  it('from the UI with no sign-in on record: sign in on the host it calls, and turn on the UI setting', async () => {
    const m = await expect401({ origin: 'http://localhost:8233', host: 'localhost:8888' });
    expect(m).toBe(
      'no session cookie: this request came from origin http://localhost:8233 without one. Sign in at http://localhost:8888/login (this host name: cookies are kept per host name), ' +
        'and in the UI\'s codec server settings turn on "Include cross-origin credentials"',
    );
  });

  it('after a sign-in on 127.0.0.1 while the UI calls localhost: names both host names', async () => {
    const login = await srv.app.inject({ method: 'POST', url: '/login', headers: { host: '127.0.0.1:8888', origin: 'http://127.0.0.1:8888', 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${op.value}` });
    expect(login.statusCode).toBe(200);
    const m = await expect401({ origin: 'http://localhost:8233', host: 'localhost:8888' });
    expect(m).toBe(
      'no session cookie: this request came from origin http://localhost:8233; cookies set by http://127.0.0.1:8888 (signed in there lately) are not sent to http://localhost:8888, ' +
        'browsers keep them per host name: sign in at http://localhost:8888/login',
    );
  });

  it('from a UI on another site than the endpoint it calls: one host name for both', async () => {
    const m = await expect401({ origin: 'http://localhost:8233', host: '127.0.0.1:8888' });
    expect(m).toContain('this request came from origin http://localhost:8233 to http://127.0.0.1:8888, another site');
    expect(m).toContain("set the UI's codec endpoint to http://localhost:8888 and sign in at http://localhost:8888/login");
  });

  it('from the temporal CLI (Go HTTP client, no Origin): what to pass', async () => {
    const m = await expect401({ 'user-agent': 'Go-http-client/1.1', host: 'localhost:8888' });
    expect(m).toContain('--codec-auth "Bearer <token>" (or TEMPORAL_CODEC_AUTH)');
    expect(m).toContain('context deadline exceeded');
  });

  it('never repeats a Host or Origin header that is not a plain host name', async () => {
    const m = await expect401({ origin: 'http://localhost:8233', host: 'evil.example/<script>' });
    expect(m).not.toContain('<script>');
    expect(m).toContain('log in at /login');
  });
});

describe('the login page', () => {
  it('says which host name its cookie is for, and whether each allowed UI origin gets it', async () => {
    const other = await srv.app.inject({ method: 'GET', url: '/login', headers: { host: '127.0.0.1:8888' } });
    expect(other.body).toContain('This sign-in sets a cookie for 127.0.0.1 (this page&#39;s host name)');
    expect(other.body).toContain('http://localhost:8233: another host name. A UI there needs the codec endpoint http://localhost:8888 and a sign-in at http://localhost:8888/login.');
    const same = await srv.app.inject({ method: 'GET', url: '/login', headers: { host: 'localhost:8888' } });
    expect(same.body).toContain('http://localhost:8233: signing in here works for it.');
    expect(same.body).toContain('&quot;Include cross-origin credentials&quot;');
  });

  it('names the host name signed in on', async () => {
    const res = await srv.app.inject({ method: 'POST', url: '/login', headers: { host: 'localhost:8888', origin: 'http://localhost:8888', 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${op.value}` });
    expect(res.body).toContain('Signed in as operator on localhost.');
  });
});

describe('RecentSignInHosts', () => {
  it('forgets sign-ins older than a session lives, and the host asked about', () => {
    let now = 0;
    const hosts = new RecentSignInHosts(1000, () => now);
    hosts.note('127.0.0.1:8888');
    now = 500;
    hosts.note('localhost:8888');
    expect(hosts.othersThan('localhost:8888')).toEqual(['127.0.0.1:8888']);
    expect(hosts.othersThan('codec.test:8888')).toEqual(['localhost:8888', '127.0.0.1:8888']);
    now = 1200;
    expect(hosts.othersThan('codec.test:8888')).toEqual(['localhost:8888']);
  });
});
