import type { FastifyInstance } from 'fastify';
import type { ServerMetrics } from '../metrics.js';
import type { Readiness } from '../readiness.js';

// Readiness answers anyone who can reach the port: one bit, nothing about keys, paths or modes
// (why not ready goes to the server log, readiness.ts). The schema keeps it that way.
const readyResponse = { type: 'object', properties: { status: { type: 'string', enum: ['ready', 'not ready'] } }, additionalProperties: false };

/** Liveness (the process answers), readiness (its keys, and with auth.jwt the issuer's, are reachable), and Prometheus metrics. */
export function registerHealthRoutes(app: FastifyInstance, deps: { readiness: Readiness; metrics: ServerMetrics }): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { response: { 200: readyResponse, 503: readyResponse } } }, async (_req, reply) => {
    const { ready } = await deps.readiness.probe();
    return ready ? { status: 'ready' } : reply.code(503).send({ status: 'not ready' });
  });

  app.get('/metrics', async (_req, reply) => {
    void reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
}
