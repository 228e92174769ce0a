import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import autocannon from 'autocannon';
import { describe, expect, it } from 'vitest';
import { EnvelopeCodec, makeScope } from '../codecs/index.js';
import { payloadsFromJson, payloadsToJson } from '../codecs/payload-json.js';
import { recordCounts } from './support/hardening-counts.js';
import { jsonPayload, text } from './support/payloads.js';
import { buildTestServer, token } from './support/server-harness.js';

/**
 * A bounded soak on loopback: the codec server under sustained /decode and /encode load from many
 * more workflows than its caches may hold. Afterwards: no errors, every payload still decodes to its
 * original, the caches stayed within their limits, memory after GC and open handles back where
 * they were. (Throughput figures belong to bench/, not here.)
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
};
const SECONDS = Number(process.env.TEMPORAL_ENVELOPE_SOAK_SECONDS ?? 15);
const WORKFLOWS = 200;
const CACHE = 50;

describe('soak', () => {
  it(`serves ${SECONDS} s of load over ${WORKFLOWS} workflows with caches of ${CACHE}: no errors, nothing lost, memory and handles flat`, async () => {
    const root = token('root');
    const srv = await buildTestServer({
      auth: { staticTokens: [root.entry] },
      policy: { rules: [{ principals: ['root'], namespaces: ['default'], actions: ['decode', 'encode'] }] },
      rateLimit: { enabled: false },
      codec: { cache: { maxEntries: CACHE, maxDecryptEntries: CACHE } },
    });
    srv.lines.length = 0;
    const writer = new EnvelopeCodec({ keyProviders: srv.keyring });
    const originals = Array.from({ length: WORKFLOWS }, (_, i) => jsonPayload({ workflow: i, secret: `s-${i}`, pad: 'x'.repeat(900) }));
    const bodies = await Promise.all(originals.map(async (p, i) => JSON.stringify(payloadsToJson(await writer.encodeInScope([p], makeScope('default', `soak-wf-${i}`))))));
    const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
    const headers = { 'content-type': 'application/json', 'x-namespace': 'default', authorization: `Bearer ${root.value}` };

    // Warm up, then take the baseline.
    await autocannon({ url, connections: 10, amount: 400, requests: bodies.slice(0, 40).map((body) => ({ method: 'POST', path: '/decode', headers, body })) });
    srv.lines.length = 0;
    const heapBefore = heapAfterGc();
    const handlesBefore = process.getActiveResourcesInfo().length;

    const requests = [
      ...bodies.map((body) => ({ method: 'POST' as const, path: '/decode', headers, body })),
      ...bodies.slice(0, 20).map(() => ({ method: 'POST' as const, path: '/encode', headers, body: JSON.stringify(payloadsToJson([jsonPayload('fresh')])) })),
    ];
    const result = await autocannon({ url, connections: 20, duration: SECONDS, requests });
    const cacheAtEnd = srv.codec.keys.stats();

    // Nothing lost: every workflow's payload still decodes, through the server, to what was sealed.
    let lost = 0;
    for (let i = 0; i < WORKFLOWS; i++) {
      const res = await fetch(`${url}/decode`, { method: 'POST', headers, body: bodies[i] });
      const [p] = payloadsFromJson(await res.json());
      if (res.status !== 200 || !p || text(p) !== text(originals[i]!)) lost++;
    }
    srv.lines.length = 0; // audit lines are retained only by this test's capture
    await srv.app.close();
    await new Promise((r) => setTimeout(r, 200));
    const heapAfter = heapAfterGc();
    const handlesAfter = process.getActiveResourcesInfo().length;

    recordCounts('soak', {
      seconds: SECONDS,
      requests: result.requests.total,
      errors: result.errors + result.timeouts,
      non2xx: result.non2xx,
      payloadsLost: lost,
      heapBeforeMb: Math.round(heapBefore),
      heapAfterMb: Math.round(heapAfter),
      handlesBefore,
      handlesAfter,
      decryptCacheEntries: cacheAtEnd.decryptEntries,
    });
    expect(result.requests.total).toBeGreaterThan(100);
    expect(result.errors + result.timeouts + result.non2xx).toBe(0);
    expect(lost).toBe(0);
    expect(cacheAtEnd.decryptEntries).toBeLessThanOrEqual(CACHE);
    expect(cacheAtEnd.encryptEntries).toBeLessThanOrEqual(CACHE);
    expect(heapAfter - heapBefore).toBeLessThan(32); // MB: flat within GC noise, far below per-request growth
    expect(handlesAfter).toBeLessThanOrEqual(handlesBefore + 2);
  });
});
