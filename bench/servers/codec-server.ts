/**
 * The codec server as the load test runs it, in its own process: static-token auth, an allow
 * policy, audit logging on (to the file BENCH_LOG), metrics on, the local keyring at BENCH_KEYRING,
 * and optionally a KMS round trip of BENCH_KMS_DELAY_MS added to every key call. With
 * BENCH_WORKERS > 1, that many node:cluster workers as `serve --workers` runs them. Prints its URL.
 */
import { appendFileSync } from 'node:fs';
import pino from 'pino';
import { LocalKeyring } from '../../keys/index.js';
import { createLogger } from '../../src/server/audit.js';
import { buildServer } from '../../src/server/build-server.js';
import { validateConfig } from '../../src/config/load.js';
import { serveBench } from '../lib/clustered.js';
import { DelayedProvider } from '../lib/delayed-provider.js';

await serveBench(async () => {
  const keyring = await LocalKeyring.open({ path: process.env.BENCH_KEYRING!, create: false, watchIntervalMs: 0 });
  const provider = new DelayedProvider(keyring, Number(process.env.BENCH_KMS_DELAY_MS ?? 0));
  const config = validateConfig({
    auth: { staticTokens: [{ principal: 'bench', sha256: process.env.BENCH_TOKEN_SHA256!, groups: [] }] },
    policy: { rules: [{ principals: ['bench'], namespaces: ['default'], actions: ['decode', 'encode'] }] },
    rateLimit: { enabled: false },
    server: { bodyLimitBytes: 4 * 1024 * 1024 },
  });
  const logger = createLogger({ level: 'info', pretty: false, destination: pino.destination({ dest: process.env.BENCH_LOG ?? '/dev/null', sync: true }) });
  const { app } = await buildServer(config, { keyProvider: provider, logger });
  startHeapSamples();
  return { url: await app.listen({ host: '127.0.0.1', port: 0 }), close: () => app.close() };
});

/** For the soak: the heap after a full GC every 5 s (RSS alone cannot tell a leak from a lazy GC). */
function startHeapSamples(): void {
  const heapFile = process.env.BENCH_HEAP_FILE;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!heapFile || !gc) return;
  setInterval(() => {
    gc();
    const m = process.memoryUsage();
    appendFileSync(heapFile, `${Date.now()} ${(m.heapUsed / 1048576).toFixed(1)} ${(m.rss / 1048576).toFixed(1)}\n`);
  }, 5000).unref();
}
