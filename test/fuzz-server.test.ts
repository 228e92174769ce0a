import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec, makeScope } from '../codecs/index.js';
import { payloadsToJson } from '../codecs/payload-json.js';
import { recordCounts } from './support/hardening-counts.js';
import { HOSTILE_CORPUS } from './support/hostile-requests.js';
import { jsonPayload } from './support/payloads.js';
import { buildTestServer, token } from './support/server-harness.js';

/**
 * Hostile requests to /decode and /encode: every one ends in a 2xx or a 4xx with a typed JSON
 * error, never a 500, a crash or the plaintext of a payload the caller may not see or that was
 * altered. Through fastify's inject (the whole request pipeline, no socket).
 */

const MARKER = 'PLAINTEXT-MARKER-9c1e';
const root = token('root');
const limited = token('limited', ['tenant-a']);
let srv: Awaited<ReturnType<typeof buildTestServer>>;
let sealed: { metadata: Record<string, string>; data: string };
let sealedOther: { metadata: Record<string, string>; data: string };
const counts = { requests: 0, jsonBodies: 0, corpus: 0, bitFlips: 0, status5xx: 0 };

beforeAll(async () => {
  srv = await buildTestServer({
    auth: { staticTokens: [root.entry, limited.entry] },
    policy: {
      rules: [
        { principals: ['root'], namespaces: ['*'], actions: ['decode', 'encode'] },
        { groups: ['tenant-a'], namespaces: ['default'], workflowIdPatterns: ['tenant-a-*'], actions: ['decode'] },
      ],
    },
    rateLimit: { enabled: false },
    server: { bodyLimitBytes: 256 * 1024, maxPayloadsPerRequest: 100 },
  });
  const codec = new EnvelopeCodec({ keyProviders: srv.keyring });
  sealed = payloadsToJson(await codec.encodeInScope([jsonPayload({ m: MARKER })], makeScope('default', 'tenant-a-1'))).payloads[0] as typeof sealed;
  sealedOther = payloadsToJson(await codec.encodeInScope([jsonPayload({ m: MARKER })], makeScope('default', 'tenant-b-1'))).payloads[0] as typeof sealedOther;
});
afterAll(async () => {
  await srv?.app.close();
  recordCounts('server', counts);
});

async function send(opts: { url?: string; body?: string | Buffer; contentType?: string; headers?: Record<string, string>; who?: string }) {
  const res = await srv.app.inject({
    method: 'POST',
    url: opts.url ?? '/decode',
    payload: opts.body ?? '',
    headers: {
      ...(opts.contentType === undefined ? { 'content-type': 'application/json' } : opts.contentType ? { 'content-type': opts.contentType } : {}),
      'x-namespace': 'default',
      authorization: `Bearer ${opts.who ?? root.value}`,
      ...opts.headers,
    },
  });
  counts.requests++;
  if (res.statusCode >= 500) counts.status5xx++;
  expect(res.statusCode, res.body.slice(0, 300)).toBeLessThan(500);
  if (res.statusCode >= 400) expect(res.json()).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
  return res;
}

describe('/decode and /encode under hostile input', () => {
  it('arbitrary JSON bodies (property, 500 runs per route)', async () => {
    for (const url of ['/decode', '/encode']) {
      await fc.assert(
        fc.asyncProperty(fc.jsonValue({ maxDepth: 6 }), async (value) => {
          counts.jsonBodies++;
          const res = await send({ url, body: JSON.stringify(value) });
          expect([200, 400]).toContain(res.statusCode);
        }),
        { numRuns: 500 },
      );
    }
  });

  it('payload-shaped bodies with arbitrary field values (property, 500 runs)', async () => {
    const field = fc.oneof(fc.string(), fc.base64String(), fc.integer(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string(), fc.string()));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ metadata: fc.oneof(fc.dictionary(fc.string(), field), field), data: field }, { requiredKeys: [] }), { maxLength: 5 }), async (payloads) => {
        counts.jsonBodies++;
        const res = await send({ body: JSON.stringify({ payloads }) });
        expect([200, 400]).toContain(res.statusCode);
      }),
      { numRuns: 500 },
    );
  });

  it('a corpus of hostile requests', async () => {
    for (const [name, req, expected] of HOSTILE_CORPUS) {
      counts.corpus++;
      const res = await send(req);
      expect(expected, `${name}: got ${res.statusCode} ${res.body.slice(0, 200)}`).toContain(res.statusCode);
    }
  });

  it('every single-bit flip of a sealed payload: 4xx or 200 without plaintext', async () => {
    const data = Buffer.from(sealed.data, 'base64');
    for (let bit = 0; bit < data.length * 8; bit += 3) {
      const flipped = Buffer.from(data);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      const res = await send({ body: JSON.stringify({ payloads: [{ ...sealed, data: flipped.toString('base64') }] }) });
      counts.bitFlips++;
      expect(res.statusCode).toBe(422);
      expect(res.body).not.toContain(Buffer.from(MARKER).toString('base64').slice(0, 12));
    }
    for (const key of Object.keys(sealed.metadata)) {
      const value = Buffer.from(sealed.metadata[key]!, 'base64');
      for (let bit = 0; bit < value.length * 8; bit++) {
        const flipped = Buffer.from(value);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        const res = await send({ body: JSON.stringify({ payloads: [{ ...sealed, metadata: { ...sealed.metadata, [key]: flipped.toString('base64') } }] }) });
        counts.bitFlips++;
        const text = res.statusCode === 200 ? (res.json() as { payloads: { data: string }[] }).payloads.map((p) => Buffer.from(p.data, 'base64').toString()).join() : res.body;
        expect(text).not.toContain(MARKER);
      }
    }
  });

  it('a caller limited to tenant-a never gets tenant-b plaintext, whatever the batch', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom('a', 'b'), { minLength: 1, maxLength: 6 }), async (mix) => {
        const res = await send({ who: limited.value, body: JSON.stringify({ payloads: mix.map((m) => (m === 'a' ? sealed : sealedOther)) }) });
        expect(res.statusCode).toBe(200);
        const texts = (res.json() as { payloads: { data: string }[] }).payloads.map((p) => Buffer.from(p.data, 'base64').toString());
        mix.forEach((m, i) => (m === 'a' ? expect(texts[i]).toContain(MARKER) : expect(texts[i]).not.toContain(MARKER)));
      }),
      { numRuns: 100 },
    );
  });
});
