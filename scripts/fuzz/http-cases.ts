import type { IncomingHttpHeaders } from 'node:http';
import fc from 'fast-check';
import { HOSTILE_CORPUS } from '../../test/support/hostile-requests.js';
import type { Rng } from './rng.js';

/**
 * Hostile requests to a codec server on a real socket, each with what it may get back. Every
 * answer must be below 500, a 4xx must carry a typed JSON error (HTML on the login page), and no
 * answer may carry the plaintext of a payload the caller may not see or that was altered. The
 * server runs with trustProxy, so each request names its client address in X-Forwarded-For.
 */

export interface FuzzRequest {
  path: string;
  method?: 'POST' | 'GET';
  headers: Record<string, string>;
  body?: string | Buffer;
}

export interface FuzzResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Sends one request; undefined when node's client refuses to send it (e.g. a NUL in a header). */
export type Send = (request: FuzzRequest, category: string) => Promise<FuzzResponse | undefined>;

export interface ProtoJsonPayload {
  metadata: Record<string, string>;
  data: string;
}

export interface HttpFuzzContext {
  rng: Rng;
  /** The server's own origin, as its login page has it. */
  origin: string;
  marker: string;
  tokens: { root: string; limited: string; revoked: string };
  /** Valid JWTs of group `sre`; forgeries (none, HS256 with the public key, rogue and embedded keys,
   *  jku/x5u); authentic but refused (expired, wrong audience or issuer, not yet valid, no subject). */
  jwts: { valid: string[]; forged: string[]; refused: string[] };
  /** Sealed with the marker: tenant-a-1 and tenant-x-y-prod (the limited caller may see), tenant-b-1
   *  and namespace-scoped (it may not). */
  sealed: { a: ProtoJsonPayload; b: ProtoJsonPayload; prod: ProtoJsonPayload; ns: ProtoJsonPayload };
}

export const CATEGORIES = {
  jsonBody: 12,
  payloadShape: 12,
  bitFlip: 14,
  tenantMix: 12,
  hostileIds: 8,
  corpus: 6,
  badAuth: 12,
  jwt: 6,
  cookies: 8,
  loginOrigin: 6,
  sessionLife: 4,
} as const;
export type Category = keyof typeof CATEGORIES;

/** The address that only ever guesses: it must be throttled. */
export const GUESSER = '203.0.113.66';

/** Run one case of `category`; returns its violations (empty when everything held). */
export async function runCase(category: Category, ctx: HttpFuzzContext, send: Send): Promise<string[]> {
  return CASES[category](ctx, (r) => send(r, category));
}

type Case = (ctx: HttpFuzzContext, send: (r: FuzzRequest) => Promise<FuzzResponse | undefined>) => Promise<string[]>;

const legit = (ctx: HttpFuzzContext) => `198.51.100.${ctx.rng.int(256)}`;
const decodeHeaders = (ctx: HttpFuzzContext, token: string, from = legit(ctx)) => ({
  'content-type': 'application/json',
  'x-namespace': 'default',
  authorization: `Bearer ${token}`,
  'x-forwarded-for': from,
});

const CASES: Record<Category, Case> = {
  async jsonBody(ctx, send) {
    const path = ctx.rng.pick(['/decode', '/encode']);
    const res = await send({ path, headers: decodeHeaders(ctx, ctx.tokens.root), body: JSON.stringify(ctx.rng.sample(fc.jsonValue({ maxDepth: 6 }))) });
    return check(ctx, res, { statuses: [200, 400] });
  },

  async payloadShape(ctx, send) {
    const field = fc.oneof(fc.string(), fc.base64String(), fc.integer(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string(), fc.string()));
    const payloads = ctx.rng.sample(fc.array(fc.record({ metadata: fc.oneof(fc.dictionary(fc.string(), field), field), data: field }, { requiredKeys: [] }), { maxLength: 5 }));
    const res = await send({ path: '/decode', headers: decodeHeaders(ctx, ctx.tokens.root), body: JSON.stringify({ payloads }) });
    return check(ctx, res, { statuses: [200, 400] });
  },

  async bitFlip(ctx, send) {
    const p = structuredClone(ctx.sealed.a);
    const keys = Object.keys(p.metadata);
    const inData = ctx.rng.chance(0.5);
    const target = inData ? 'data' : ctx.rng.pick(keys);
    const bytes = Buffer.from(inData ? p.data : p.metadata[target]!, 'base64');
    if (bytes.length === 0) return [];
    const bit = ctx.rng.int(bytes.length * 8);
    bytes[bit >> 3]! ^= 1 << (bit & 7);
    if (inData) p.data = bytes.toString('base64');
    else p.metadata[target] = bytes.toString('base64');
    const res = await send({ path: '/decode', headers: decodeHeaders(ctx, ctx.tokens.root), body: JSON.stringify({ payloads: [p] }) });
    return check(ctx, res, { statuses: inData ? [422] : [200, 400, 422], plaintextAllowed: false, what: `flip of ${target} bit ${bit}` });
  },

  async tenantMix(ctx, send) {
    const mix = Array.from({ length: 1 + ctx.rng.int(8) }, () => ctx.rng.pick(['a', 'b', 'prod', 'ns'] as const));
    const res = await send({ path: '/decode', headers: decodeHeaders(ctx, ctx.tokens.limited), body: JSON.stringify({ payloads: mix.map((m) => ctx.sealed[m]) }) });
    const v = check(ctx, res, { statuses: [200], plaintextAllowed: true });
    if (res?.status !== 200) return v;
    const out = decodedTexts(res.body);
    mix.forEach((m, i) => {
      const opened = out[i]?.includes(ctx.marker) ?? false;
      if ((m === 'a' || m === 'prod') !== opened) v.push(`tenantMix: payload ${i} (${m}) ${opened ? 'opened for a caller who may not see it' : 'not opened for a caller who may'}`);
    });
    return v;
  },

  async hostileIds(ctx, send) {
    const ids = Array.from({ length: 1 + ctx.rng.int(100) }, () => hostileId(ctx.rng));
    const payloads = ids.map((id) => ({ ...ctx.sealed.a, metadata: { ...ctx.sealed.a.metadata, 'envelope-workflow-id': Buffer.from(id).toString('base64') } }));
    const res = await send({ path: '/decode', headers: decodeHeaders(ctx, ctx.tokens.limited), body: JSON.stringify({ payloads }) });
    return check(ctx, res, { statuses: [200, 400, 413, 422], plaintextAllowed: false, what: 'relabelled workflow ids' });
  },

  async corpus(ctx, send) {
    const [name, req, statuses] = ctx.rng.pick(HOSTILE_CORPUS);
    const headers: Record<string, string> = { ...decodeHeaders(ctx, ctx.tokens.root), ...req.headers };
    if (req.contentType !== undefined) {
      if (req.contentType === '') delete headers['content-type'];
      else headers['content-type'] = req.contentType;
    }
    const res = await send({ path: req.url ?? '/decode', headers, body: req.body ?? '' });
    return check(ctx, res, { statuses, what: name });
  },

  async badAuth(ctx, send) {
    const from = ctx.rng.chance(0.3) ? GUESSER : `10.${ctx.rng.int(256)}.${ctx.rng.int(256)}.${ctx.rng.int(256)}`;
    const credential = ctx.rng.pick([
      () => `Bearer ${Buffer.from(ctx.rng.bytes(24)).toString('base64url')}`,
      () => `Bearer ${ctx.rng.pick(ctx.jwts.forged)}`,
      () => `Bearer ${ctx.rng.pick(ctx.jwts.refused)}`,
      () => `Bearer ${ctx.tokens.revoked}`,
      () => ctx.rng.pick(['Basic YWxpY2U6cGFzcw==', 'Bearer', 'Bearer a b', `bearer ${ctx.tokens.root}x`, 'Token abc']),
    ])();
    const res = await send({ path: ctx.rng.pick(['/decode', '/encode']), headers: { ...decodeHeaders(ctx, '', from), authorization: credential }, body: JSON.stringify({ payloads: [ctx.sealed.a] }) });
    const v = check(ctx, res, { statuses: [401, 429], plaintextAllowed: false, what: 'a bad credential' });
    if (res?.status === 429 && !/^\d+$/.test(String(res.headers['retry-after']))) v.push('badAuth: 429 without Retry-After');
    return v;
  },

  async jwt(ctx, send) {
    const res = await send({ path: '/decode', headers: decodeHeaders(ctx, ctx.rng.pick(ctx.jwts.valid)), body: JSON.stringify({ payloads: [ctx.sealed.a, ctx.sealed.b] }) });
    const v = check(ctx, res, { statuses: [200], plaintextAllowed: true });
    if (res?.status === 200 && !decodedTexts(res.body).every((t) => t.includes(ctx.marker))) v.push('jwt: a valid JWT of group sre did not decode');
    return v;
  },

  async cookies(ctx, send) {
    const value = ctx.rng.sample(fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 300 }));
    const cookie = ctx.rng.pick([`te_session=${value}`, `a=1; te_session=${value}; b=2`, `te_session=${value}; te_session=${value}`, `te_session=${Buffer.from(ctx.rng.bytes(40)).toString('base64url')}.${Buffer.from(ctx.rng.bytes(32)).toString('base64url')}`, value]);
    const headers: Record<string, string> = { ...decodeHeaders(ctx, ''), cookie };
    delete headers.authorization;
    const res = await send({ path: '/decode', headers, body: JSON.stringify({ payloads: [ctx.sealed.a] }) });
    return check(ctx, res, { statuses: [401], plaintextAllowed: false, what: 'a forged cookie' });
  },

  async loginOrigin(ctx, send) {
    const origin = ctx.rng.pick([undefined, ctx.origin, 'https://evil.example', 'null', 'http://localhost:8233', ctx.origin.replace('http:', 'https:'), `${ctx.origin}.evil.example`]);
    const site = ctx.rng.pick([undefined, 'same-origin', 'none', 'same-site', 'cross-site']);
    const json = ctx.rng.chance(0.5);
    const valid = ctx.rng.chance(0.5);
    const token = valid ? ctx.tokens.root : Buffer.from(ctx.rng.bytes(18)).toString('base64url');
    const res = await send({
      path: '/login',
      headers: {
        'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded',
        'x-forwarded-for': valid ? legit(ctx) : `10.${ctx.rng.int(256)}.${ctx.rng.int(256)}.${ctx.rng.int(256)}`,
        ...(origin ? { origin } : {}),
        ...(site ? { 'sec-fetch-site': site } : {}),
      },
      body: json ? JSON.stringify({ token }) : `token=${encodeURIComponent(token)}`,
    });
    // The rule, restated as the oracle: same origin by Origin, else by Sec-Fetch-Site, else JSON only.
    const siteOk = site === undefined || site === 'same-origin' || site === 'none';
    const sameOrigin = siteOk && (origin !== undefined ? origin === ctx.origin : site !== undefined || json);
    const statuses = !sameOrigin ? [403] : valid ? [200] : [401, 429];
    const v = check(ctx, res, { statuses, html: !json, what: `login origin ${origin} site ${site}` });
    if (res && (res.status === 200) !== Boolean(res.headers['set-cookie'])) v.push(`loginOrigin: status ${res.status} with${res.headers['set-cookie'] ? '' : 'out'} a Set-Cookie`);
    return v;
  },

  async sessionLife(ctx, send) {
    const from = legit(ctx);
    const page = { origin: ctx.origin, 'sec-fetch-site': 'same-origin', 'x-forwarded-for': from };
    const login = await send({ path: '/login', headers: { ...page, 'content-type': 'application/json' }, body: JSON.stringify({ token: ctx.tokens.limited }) });
    const v = check(ctx, login, { statuses: [200] });
    const cookie = String(login?.headers['set-cookie'] ?? '').split(';')[0]!;
    if (!cookie.startsWith('te_session=')) return [...v, 'sessionLife: login set no cookie'];
    const asSession = { 'content-type': 'application/json', 'x-namespace': 'default', 'x-forwarded-for': from, cookie };
    const during = await send({ path: '/decode', headers: asSession, body: JSON.stringify({ payloads: [ctx.sealed.a, ctx.sealed.b] }) });
    v.push(...check(ctx, during, { statuses: [200], plaintextAllowed: true }));
    const texts = during?.status === 200 ? decodedTexts(during.body) : [];
    if (!texts[0]?.includes(ctx.marker) || texts[1]?.includes(ctx.marker)) v.push('sessionLife: the session did not decode exactly what its token may');
    v.push(...check(ctx, await send({ path: '/logout', headers: { ...page, cookie } }), { statuses: [200], html: true }));
    v.push(...check(ctx, await send({ path: '/decode', headers: asSession, body: JSON.stringify({ payloads: [ctx.sealed.a] }) }), { statuses: [401], plaintextAllowed: false, what: 'a signed-out session' }));
    return v;
  },
};

/** Ids an attacker writes into payload metadata to make a glob matcher backtrack, or to look allowed. */
function hostileId(rng: Rng): string {
  const n = rng.int(1100);
  return rng.pick([
    () => `tenant-${'-'.repeat(n)}`,
    () => '-'.repeat(n),
    () => `tenant-a-${'a-'.repeat(n >> 1)}`,
    () => `tenant-${'x-'.repeat(n >> 1)}prod`,
    () => `tenant-a-${rng.int(1000)}`,
    () => Buffer.from(rng.bytes(n)).toString('latin1'),
  ])();
}

/** The decoded text of each payload in a /decode answer (empty strings when it is not one). */
function decodedTexts(body: string): string[] {
  try {
    const parsed = JSON.parse(body) as { payloads?: { data?: string }[] };
    return (parsed.payloads ?? []).map((p) => Buffer.from(p.data ?? '', 'base64').toString('latin1'));
  } catch {
    return [];
  }
}

interface Expect {
  statuses: readonly number[];
  /** May the body hold the marker's plaintext (the caller may see some payload)? Default: no. */
  plaintextAllowed?: boolean;
  /** The answer may be the login page's HTML rather than JSON. */
  html?: boolean;
  what?: string;
}

function check(ctx: HttpFuzzContext, res: FuzzResponse | undefined, expect: Expect): string[] {
  if (!res) return [];
  const v: string[] = [];
  const about = expect.what ? ` (${expect.what})` : '';
  if (res.status >= 500) v.push(`5xx: ${res.status}${about}: ${res.body.slice(0, 200)}`);
  else if (!expect.statuses.includes(res.status)) v.push(`status ${res.status}, expected ${expect.statuses.join('/')}${about}: ${res.body.slice(0, 200)}`);
  const type = String(res.headers['content-type'] ?? '');
  if (res.status >= 400 && !(expect.html && type.startsWith('text/html'))) {
    try {
      const e = (JSON.parse(res.body) as { error?: { code?: unknown; message?: unknown } }).error;
      if (typeof e?.code !== 'string' || typeof e.message !== 'string') v.push(`${res.status} without a typed error${about}`);
    } catch {
      v.push(`${res.status} with a body that is not JSON${about}: ${res.body.slice(0, 100)}`);
    }
  }
  if (!expect.plaintextAllowed && (res.body.includes(ctx.marker) || decodedTexts(res.body).some((t) => t.includes(ctx.marker)))) v.push(`plaintext to a caller who may not see it${about}`);
  return v;
}
