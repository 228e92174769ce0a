import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestServer } from './support/server-harness.js';
import { startJwtIssuer } from './support/jwt-issuer.js';

/**
 * An unreachable JWKS URL used to be silent until every operator's sign-in failed with "token could
 * not be verified" (a 401, as if the token were bad). Now the server fetches the keys when it starts
 * listening and warns naming the URL and the error; /readyz is 503 ISSUER_UNAVAILABLE while no key
 * set has ever been fetched; a JWT meanwhile gets 503 ISSUER_UNAVAILABLE (retryable, the server's
 * problem). A real issuer stands behind a gate that first answers 502, then passes the keys through.
 */
let issuer: Awaited<ReturnType<typeof startJwtIssuer>>;
let gate: http.Server;
let open = false;
let gateUrl: string;

beforeAll(async () => {
  issuer = await startJwtIssuer();
  gate = http.createServer((req, res) => {
    if (!open) return void res.writeHead(502).end('bad gateway');
    void fetch(issuer.jwksUrl).then(async (r) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text()));
  });
  await new Promise<void>((r) => gate.listen(0, '127.0.0.1', r));
  gateUrl = `http://127.0.0.1:${(gate.address() as AddressInfo).port}/jwks.json`;
});
afterAll(async () => {
  await new Promise<void>((r) => gate.close(() => r()));
  await issuer.stop();
});

async function waitFor<T>(what: () => T | undefined, label: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = what();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${label}`);
}

const config = (jwksUrl: string) => ({
  auth: { jwt: { jwksUrl, issuer: issuer.issuer, audience: issuer.audience }, session: { secret: randomBytes(32).toString('base64') } },
  policy: { rules: [{ principals: ['ana'], namespaces: ['default'], actions: ['decode' as const] }] },
});

describe('an unreachable JWKS URL', () => {
  it('is warned about at start-up (URL and error), fails /readyz and JWTs retryably, and recovers', async () => {
    open = false;
    const srv = await buildTestServer(config(`${gateUrl}?secret-looking=1`));
    await srv.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const warning = await waitFor(() => srv.lines.map((l) => JSON.parse(l) as { level: number; msg: string; jwksUrl?: string }).find((l) => l.msg.startsWith('auth.jwt.jwksUrl')), 'the start-up check');
      expect(warning.level).toBe(40);
      expect(warning.msg).toContain(`issuer keys could not be fetched from ${gateUrl} (the answer was not 200 OK)`);
      expect(warning.jwksUrl).toBe(gateUrl);
      expect(srv.lines.join('\n')).not.toContain('secret-looking');

      const ready = await srv.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      // One bit for whoever can reach the port; the reason, naming the URL, goes to the log.
      expect(ready.json()).toEqual({ status: 'not ready' });
      const notReady = srv.lines.map((l) => JSON.parse(l) as { readiness?: { code?: string; message?: string } }).find((l) => l.readiness?.code === 'ISSUER_UNAVAILABLE');
      expect(notReady?.readiness?.message).toContain(gateUrl);

      const jwt = await issuer.sign({ sub: 'ana' });
      const decode = await srv.app.inject({ method: 'POST', url: '/decode', headers: { authorization: `Bearer ${jwt}`, 'x-namespace': 'default' }, payload: { payloads: [] } });
      expect(decode.statusCode).toBe(503);
      expect(decode.json()).toMatchObject({ error: { code: 'ISSUER_UNAVAILABLE', message: expect.stringContaining('issuer keys could not be fetched') } });
      const login = await srv.app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/json', origin: 'http://localhost', host: 'localhost' }, payload: { token: jwt } });
      expect(login.statusCode).toBe(503);

      open = true;
      expect((await srv.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      const after = await srv.app.inject({ method: 'POST', url: '/decode', headers: { authorization: `Bearer ${jwt}`, 'x-namespace': 'default' }, payload: { payloads: [] } });
      expect(after.statusCode).toBe(200);
    } finally {
      await srv.app.close();
    }
  });

  it('a reachable one is fetched at start-up and logged as such', async () => {
    open = true;
    const srv = await buildTestServer(config(issuer.jwksUrl));
    await srv.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const line = await waitFor(() => srv.lines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.msg.startsWith('auth.jwt.jwksUrl')), 'the start-up check');
      expect(line).toMatchObject({ level: 30, msg: 'auth.jwt.jwksUrl: issuer keys fetched' });
      expect((await srv.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    } finally {
      await srv.app.close();
    }
  });
});
