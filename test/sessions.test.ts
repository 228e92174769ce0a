import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../src/config/schema.js';
import { SessionRevocations } from '../src/server/auth/session-revocations.js';
import { SessionSigner } from '../src/server/auth/session.js';
import { startJwtIssuer } from './support/jwt-issuer.js';
import { buildTestServer, token } from './support/server-harness.js';

/**
 * A session from /login ends no later than the credential it came from (issue 15 item 3): logout
 * ends it, removing or revoking its static token ends it (across a restart with the same secret),
 * and a session from a JWT expires with the JWT.
 */

const secret = randomBytes(32).toString('base64');
const alice = token('alice', ['sre']);
const bob = token('bob', ['sre']);
const rules = [{ groups: ['sre'], namespaces: ['default'], actions: ['decode' as const] }];
// The codec server's own origin, as a browser on its login page would send it.
const sameOrigin = { host: 'codec.test:8888', origin: 'http://codec.test:8888' };

let issuer: Awaited<ReturnType<typeof startJwtIssuer>>;
const servers: Awaited<ReturnType<typeof buildTestServer>>[] = [];

beforeAll(async () => {
  issuer = await startJwtIssuer();
});
afterAll(async () => {
  for (const s of servers) await s.app.close();
  await issuer?.stop();
});

async function server(staticTokens = [alice.entry, bob.entry], extra: ConfigInput['auth'] = {}) {
  const s = await buildTestServer({
    auth: { staticTokens, session: { secret }, jwt: { jwksUrl: issuer.jwksUrl, issuer: issuer.issuer, audience: issuer.audience, clockToleranceSeconds: 5 }, ...extra },
    policy: { rules },
    rateLimit: { enabled: false },
  });
  servers.push(s);
  return s;
}

type Srv = Awaited<ReturnType<typeof server>>;

async function login(s: Srv, credential: string) {
  const res = await s.app.inject({ method: 'POST', url: '/login', payload: { token: credential }, headers: { 'content-type': 'application/json', ...sameOrigin } });
  return { res, cookie: String(res.headers['set-cookie'] ?? '').split(';')[0]!, setCookie: String(res.headers['set-cookie'] ?? '') };
}

const decode = (s: Srv, cookie: string) =>
  s.app.inject({ method: 'POST', url: '/decode', payload: '{"payloads":[]}', headers: { 'content-type': 'application/json', 'x-namespace': 'default', cookie } });

describe('logout', () => {
  it('ends the session: the old cookie no longer decodes', async () => {
    const s = await server();
    const { cookie } = await login(s, alice.value);
    expect((await decode(s, cookie)).statusCode).toBe(200);
    const out = await s.app.inject({ method: 'POST', url: '/logout', headers: { ...sameOrigin, cookie } });
    expect(out.statusCode).toBe(200);
    expect(String(out.headers['set-cookie'])).toMatch(/te_session=; .*Max-Age=0/);
    const after = await decode(s, cookie);
    expect(after.statusCode).toBe(401);
    expect(after.json().error.message).toMatch(/signed out/);
    expect(s.audits()).toContainEqual(expect.objectContaining({ route: '/logout', principal: 'alice' }));
  });

  it('ends only that session: another session of the same operator keeps working', async () => {
    const s = await server();
    const first = await login(s, alice.value);
    const second = await login(s, alice.value);
    await s.app.inject({ method: 'POST', url: '/logout', headers: { ...sameOrigin, cookie: first.cookie } });
    expect((await decode(s, first.cookie)).statusCode).toBe(401);
    expect((await decode(s, second.cookie)).statusCode).toBe(200);
  });

  it('with a malformed or missing cookie still signs out (200), never a 500', async () => {
    const s = await server();
    for (const cookie of ['te_session=%', 'te_session=a.b', '']) {
      const out = await s.app.inject({ method: 'POST', url: '/logout', headers: { ...sameOrigin, ...(cookie ? { cookie } : {}) } });
      expect(out.statusCode).toBe(200);
    }
  });
});

describe('sessions from static tokens', () => {
  it('survive a restart with the same secret while the token is configured', async () => {
    const { cookie } = await login(await server(), alice.value);
    expect((await decode(await server(), cookie)).statusCode).toBe(200);
  });

  it('end when the token is removed from the config (restart, same secret)', async () => {
    const { cookie } = await login(await server(), alice.value);
    const res = await decode(await server([bob.entry]), cookie);
    expect(res.statusCode).toBe(401);
    expect(res.json().error.message).toMatch(/token it came from is no longer valid/);
  });

  it('end when the token is revoked', async () => {
    const { cookie } = await login(await server(), alice.value);
    expect((await decode(await server([{ ...alice.entry, revoked: true }, bob.entry]), cookie)).statusCode).toBe(401);
  });

  it('follow the token\'s current groups, not the ones at login', async () => {
    const { cookie } = await login(await server(), alice.value);
    const res = await decode(await server([{ ...alice.entry, groups: [] }, bob.entry]), cookie);
    expect(res.statusCode).toBe(403);
  });

  it('carry no token and no token hash', async () => {
    const s = await server();
    const { cookie } = await login(s, alice.value);
    const value = cookie.slice('te_session='.length);
    const text = Buffer.from(value.split('.')[0]!, 'base64url').toString();
    expect(value).not.toContain(alice.value);
    expect(text).not.toContain(alice.entry.sha256.slice('sha256:'.length));
    expect(text).not.toContain(alice.value);
  });
});

describe('sessions from JWTs', () => {
  it('expire no later than the JWT: Max-Age and the session both end at its exp', async () => {
    const s = await server();
    const exp = Math.floor(Date.now() / 1000) + 2;
    const jwt = await issuer.sign({ sub: 'carol', groups: ['sre'] }, { exp });
    const { res, cookie, setCookie } = await login(s, jwt);
    expect(res.statusCode).toBe(200);
    const maxAge = Number(/Max-Age=(\d+)/.exec(setCookie)?.[1]);
    expect(maxAge).toBeLessThanOrEqual(2);
    expect(res.json().expiresInSeconds).toBeLessThanOrEqual(2);
    expect((await decode(s, cookie)).statusCode).toBe(200);
    // Wait for the JWT's expiry to pass (an outcome, not a duration: the session must be over).
    await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 200));
    const after = await decode(s, cookie);
    expect(after.statusCode).toBe(401);
    expect(after.json().error.message).toMatch(/expired/);
  });

  it('are not issued for a JWT already past its exp (accepted only within the clock tolerance)', async () => {
    const s = await server();
    const jwt = await issuer.sign({ sub: 'carol', groups: ['sre'] }, { exp: Math.floor(Date.now() / 1000) - 2 });
    const { res } = await login(s, jwt);
    expect(res.statusCode).toBe(401);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('end on a whole second when the JWT\'s exp is fractional (Max-Age must be whole)', () => {
    const signer = new SessionSigner(secret, 3600, () => 1_000_000_500);
    const issued = signer.issue({ principal: { id: 'carol', groups: [], via: 'jwt' }, expiresAt: 1_000_030.7 });
    expect(issued?.claims).toMatchObject({ iat: 1_000_000, exp: 1_000_030 });
  });

  it('with a JWT that outlives ttlSeconds, end at ttlSeconds', async () => {
    const s = await buildTestServer({
      auth: { session: { secret, ttlSeconds: 60 }, jwt: { jwksUrl: issuer.jwksUrl, issuer: issuer.issuer, audience: issuer.audience } },
      policy: { rules },
    });
    servers.push(s);
    const { setCookie } = await login(s, await issuer.sign({ sub: 'carol', groups: ['sre'] }, { exp: '2h' }));
    expect(Number(/Max-Age=(\d+)/.exec(setCookie)?.[1])).toBe(60);
  });
});

describe('the revocation list', () => {
  it('forgets a revoked session only after the session has expired anyway', () => {
    let now = 1_000_000;
    const list = new SessionRevocations({ maxEntries: 10, now: () => now });
    list.revoke('s1', now / 1000 + 60);
    expect(list.isRevoked('s1', now / 1000 - 1)).toBe(true);
    now += 61_000;
    list.revoke('s2', now / 1000 + 60); // sweeps s1, whose session can no longer verify
    expect(list.size).toBe(1);
  });

  it('when full, fails closed: every session issued so far on this replica ends', () => {
    const now = 1_000_000;
    const list = new SessionRevocations({ maxEntries: 3, now: () => now });
    for (const sid of ['a', 'b', 'c']) list.revoke(sid, now / 1000 + 3600);
    expect(list.isRevoked('fresh-before', now / 1000 - 10)).toBe(false);
    list.revoke('d', now / 1000 + 3600);
    expect(list.isRevoked('a', now / 1000 - 10)).toBe(true);
    expect(list.isRevoked('fresh-before', now / 1000 - 10)).toBe(true);
    expect(list.isRevoked('later', now / 1000 + 1)).toBe(false);
  });
});
