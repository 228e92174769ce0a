import type { FastifyInstance } from 'fastify';
import { isEnvelopeError } from '../../../primitives/errors.js';
import type { KeyProvider } from '../../../keys/key-provider.js';
import type { ServerMetrics } from '../metrics.js';

/** Liveness (the process answers), readiness (its keys, and with auth.jwt the issuer's, are reachable), and Prometheus metrics. */
export function registerHealthRoutes(app: FastifyInstance, deps: { keyProvider: KeyProvider; metrics: ServerMetrics; issuerProblem?: () => Promise<string | undefined> }): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    try {
      await withTimeout(deps.keyProvider.checkReady(), 5000);
      const issuer = await deps.issuerProblem?.();
      if (issuer !== undefined) return reply.code(503).send({ status: 'not ready', error: { code: 'ISSUER_UNAVAILABLE', message: issuer } });
      return { status: 'ready', provider: deps.keyProvider.name, primaryKeyId: deps.keyProvider.primaryKeyId() };
    } catch (err) {
      return reply.code(503).send({ status: 'not ready', error: { code: isEnvelopeError(err) ? err.code : 'NOT_READY', message: isEnvelopeError(err) ? err.message : 'keys not reachable' } });
    }
  });

  app.get('/metrics', async (_req, reply) => {
    void reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error('readiness check timed out')), ms);
    }),
  ]);
}
