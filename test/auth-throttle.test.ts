import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../src/config/schema.js';
import { startJwtIssuer } from './support/jwt-issuer.js';
import { buildTestServer, token } from './support/server-harness.js';

/**
 * Guessing credentials is not free (issue 15 item 4): failed authentications are counted per client
 * address (as fastify computes req.ip, so trustProxy is honoured exactly) before any credential is
 * checked, on /decode, /encode and /login; past the limit the address gets 429 with Retry-After
 * until its window ends, while callers from other addresses are unaffected.
 */

const root = token('root');
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

async function server(extra: ConfigInput = {}) {
  const s = await buildTestServer({
    auth: { staticTokens: [root.entry], jwt: { jwksUrl: issuer.jwksUrl, issuer: issuer.issuer, audience: issuer.audience } },
    policy: { rules: [{ principals: ['root'], namespaces: ['*'], actions: ['decode', 'encode'] }] },
    ...extra,
    rateLimit: { failedAuth: { max: 5, windowMs: 60_000 }, ...extra.rateLimit },
  });
  servers.push(s);
  return s;
}
type Srv = Awaited<ReturnType<typeof server>>;

const call = (s: Srv, route: string, credential: string, remoteAddress: string, headers: Record<string, string> = {}) =>
  s.app.inject({
    method: 'POST',
    url: route,
    remoteAddress,
    payload: route === '/login' ? { token: credential } : { payloads: [] },
    headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...(route === '/login' ? sameOrigin : { authorization: `Bearer ${credential}` }), ...headers },
  });

async function burst(s: Srv, route: string, from: string, n = 50, headers: Record<string, string> = {}) {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) statuses.push((await call(s, route, `wrong-token-${i}`, from, headers)).statusCode);
  return statuses;
}

describe('failed authentication per client address', () => {
  for (const route of ['/decode', '/encode', '/login']) {
    it(`${route}: a burst of wrong tokens gets 429 with Retry-After; a correct caller elsewhere still gets 200`, async () => {
      const s = await server();
      const statuses = await burst(s, route, '198.51.100.7');
      expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
      expect(statuses.slice(5).every((c) => c === 429)).toBe(true);
      const limited = await call(s, route, 'wrong-again', '198.51.100.7');
      expect(limited.statusCode).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
      expect(limited.json().error).toMatchObject({ code: 'RATE_LIMITED', message: expect.stringMatching(/failed authentication/) });
      expect((await call(s, route, root.value, '198.51.100.8')).statusCode).toBe(200);
      // Before authentication there is no telling a correct token from this address from a guess.
      expect((await call(s, route, root.value, '198.51.100.7')).statusCode).toBe(429);
    });
  }

  it('counts forged JWTs; not missing or expired credentials, nor session cookies that fail their MAC', async () => {
    const s = await server();
    const forged = await issuer.sign({ sub: 'root' }, { rogue: true });
    expect((await call(s, '/decode', forged, '198.51.100.20')).statusCode).toBe(401);
    const noCredentials = () => s.app.inject({ method: 'POST', url: '/decode', remoteAddress: '198.51.100.21', payload: { payloads: [] }, headers: { 'x-namespace': 'default' } });
    const expired = await issuer.sign({ sub: 'root' }, { exp: Math.floor(Date.now() / 1000) - 3600 });
    // A browser whose session ran out keeps sending it, and a UI keeps sending an old access
    // token until it refreshes: neither is a guess, and neither may lock the operator out of /login.
    for (let i = 0; i < 20; i++) {
      expect((await noCredentials()).statusCode).toBe(401);
      expect((await call(s, '/decode', expired, '198.51.100.21')).statusCode).toBe(401);
    }
    expect((await call(s, '/login', root.value, '198.51.100.21')).statusCode).toBe(200);
    // A 256-bit MAC cannot be guessed; cookies that fail it are stale ones (a restart without a
    // configured secret, an older format) that the browser sends on every request.
    const staleCookies = [];
    for (let i = 0; i < 20; i++) {
      staleCookies.push(
        (await s.app.inject({ method: 'POST', url: '/decode', remoteAddress: '198.51.100.22', payload: { payloads: [] }, headers: { 'x-namespace': 'default', cookie: `te_session=eyJ2IjoyfQ.${'A'.repeat(43)}` } })).statusCode,
      );
    }
    expect(staleCookies.every((c) => c === 401)).toBe(true);
    expect((await call(s, '/login', root.value, '198.51.100.22')).statusCode).toBe(200);
    const forgedJwts = [];
    for (let i = 0; i < 5; i++) forgedJwts.push((await call(s, '/decode', forged, '198.51.100.20')).statusCode);
    expect(forgedJwts).toEqual([401, 401, 401, 401, 429]);
  });

  it('honours trustProxy exactly as fastify does: X-Forwarded-For counts only when trusted', async () => {
    const trusting = await server({ server: { trustProxy: true } });
    const xff = (ip: string) => ({ 'x-forwarded-for': ip });
    expect((await burst(trusting, '/decode', '127.0.0.1', 10, xff('203.0.113.7'))).at(-1)).toBe(429);
    expect((await call(trusting, '/decode', root.value, '127.0.0.1', xff('203.0.113.8'))).statusCode).toBe(200);

    // Not trusted: a varying X-Forwarded-For does not spread one address's guesses.
    const plain = await server();
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await call(plain, '/decode', `guess-${i}`, '198.51.100.30', xff(`203.0.113.${i}`))).statusCode);
    expect(statuses.at(-1)).toBe(429);
  });

  it('refuses a hop-count trustProxy, which fastify 5.12 turned into "trust no proxy"', async () => {
    // With it every client behind an ingress would share the ingress's address: one guesser would
    // throttle them all, and /login behind a TLS proxy would see http, not the browser's https.
    await expect(server({ server: { trustProxy: 1 } })).rejects.toThrow(/server\.trustProxy: .*hop count/);
    const cidr = await server({ server: { trustProxy: '127.0.0.1/8' } });
    expect((await burst(cidr, '/decode', '127.0.0.1', 10, { 'x-forwarded-for': '203.0.113.9' })).at(-1)).toBe(429);
    expect((await call(cidr, '/decode', root.value, '127.0.0.1', { 'x-forwarded-for': '203.0.113.10' })).statusCode).toBe(200);
  });

  it('counts an IPv6 client by its /64 (one host usually holds all of it)', async () => {
    const s = await server();
    for (let i = 1; i <= 5; i++) expect((await call(s, '/decode', 'guess', `2001:db8:1:2::${i.toString(16)}`)).statusCode).toBe(401);
    expect((await call(s, '/decode', root.value, '2001:db8:1:2:ffff::1')).statusCode).toBe(429);
    expect((await call(s, '/decode', root.value, '2001:db8:1:3::1')).statusCode).toBe(200);
    // An IPv4-mapped address is that IPv4 address.
    for (let i = 0; i < 5; i++) await call(s, '/decode', 'guess', '::ffff:192.0.2.9');
    expect((await call(s, '/decode', root.value, '192.0.2.9')).statusCode).toBe(429);
  });

  it('authenticated callers keep the per-principal limit', async () => {
    const s = await server({ rateLimit: { max: 3, windowMs: 60_000 } });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await call(s, '/decode', root.value, `198.51.100.${40 + i}`)).statusCode);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it('/login has the per-address request limit too', async () => {
    const s = await server({ rateLimit: { max: 3, windowMs: 60_000 } });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await call(s, '/login', root.value, '198.51.100.50')).statusCode);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it('is validated at start-up and can be turned off explicitly', async () => {
    await expect(server({ rateLimit: { failedAuth: { max: 0 } } })).rejects.toThrow(/rateLimit\.failedAuth\.max/);
    const off = await server({ rateLimit: { failedAuth: { enabled: false } } });
    expect((await burst(off, '/decode', '198.51.100.60', 30)).every((c) => c === 401)).toBe(true);
  });
});
