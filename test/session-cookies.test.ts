import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestServer, token } from './support/server-harness.js';

/**
 * Whatever a Cookie header holds, a request that carries our session cookie without a valid
 * session is a 401 with a typed JSON error: `te_session=%` was a 500 (a URIError from the cookie
 * reader, issue 15 item 5), and it was every 5xx of the fuzz run.
 */

const root = token('root');
let srv: Awaited<ReturnType<typeof buildTestServer>>;

beforeAll(async () => {
  srv = await buildTestServer({
    auth: { staticTokens: [root.entry], session: { secret: randomBytes(32).toString('base64') } },
    policy: { rules: [{ principals: ['root'], namespaces: ['*'], actions: ['decode'] }] },
    rateLimit: { enabled: false },
  });
});
afterAll(async () => {
  await srv?.app.close();
});

const decodeWith = (cookie: string) =>
  srv.app.inject({ method: 'POST', url: '/decode', payload: '{"payloads":[]}', headers: { 'content-type': 'application/json', 'x-namespace': 'default', cookie } });

async function validCookie(): Promise<string> {
  const login = await srv.app.inject({ method: 'POST', url: '/login', payload: { token: root.value }, headers: { 'content-type': 'application/json' } });
  expect(login.statusCode).toBe(200);
  return String(login.headers['set-cookie']).split(';')[0]!;
}

describe('malformed session cookies', () => {
  const cases: [string, string][] = [
    ['a lone percent sign', 'te_session=%'],
    ['a truncated percent escape', 'te_session=%E0%A4%A'],
    ['an invalid UTF-8 escape', 'te_session=%FF%FE'],
    ['an empty value', 'te_session='],
    ['a name without a value', 'te_session'],
    ['a dot only', 'te_session=.'],
    ['a body without a MAC', 'te_session=eyJzdWIiOiJyb290In0'],
    ['a bad MAC', 'te_session=eyJzdWIiOiJyb290In0.AAAA'],
    ['quotes', 'te_session="abc.def"'],
    ['a very long value', `te_session=${'A'.repeat(12_000)}.${'B'.repeat(43)}`],
    ['among other cookies', 'a=1; te_session=%zz; b=2'],
  ];
  for (const [name, cookie] of cases) {
    it(`${name}: 401`, async () => {
      const res = await decodeWith(cookie);
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringMatching(/session|no credentials/) });
    });
  }

  it('two session cookies are ambiguous (one may be tossed in from a sibling domain): 401', async () => {
    const good = await validCookie();
    expect((await decodeWith(good)).statusCode).toBe(200);
    expect((await decodeWith(`${good}; te_session=x.y`)).statusCode).toBe(401);
    expect((await decodeWith(`te_session=x.y; ${good}`)).statusCode).toBe(401);
  });

  it('any cookie value, any cookie header: 401 or (for a valid session) 200, never a 5xx (property)', async () => {
    const good = await validCookie();
    const value = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 200 });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(value.map((v) => `te_session=${v}`), value, fc.constant(good)), { minLength: 1, maxLength: 4 }), async (parts) => {
        const res = await decodeWith(parts.join('; '));
        expect(res.statusCode, res.body).toBeLessThan(500);
        if (res.statusCode !== 200) expect(res.json().error.code).toBe('UNAUTHENTICATED');
      }),
      { numRuns: 300 },
    );
  });
});
