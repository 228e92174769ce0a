import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { EnvelopeCodec } from '../../codecs/envelope-codec.js';
import type { KeyProvider } from '../../keys/key-provider.js';
import type { ScopeSecretStore } from '../../keys/shred-store.js';
import { forgetShreddedScopes } from '../../keys/shreddable-provider.js';
import type { ServerConfig } from '../config/schema.js';
import { Authenticator } from './auth/authenticator.js';
import { checkIssuerOnListen } from './auth/issuer-startup-check.js';
import { FailedAuthThrottle } from './auth/failed-auth-throttle.js';
import type { Principal } from './auth/principal.js';
import type { AuditRecord } from './audit.js';
import { clientErrorHandler } from './client-errors.js';
import { clusterPeer } from './cluster.js';
import { errorHeaders, issuerUnavailable, toHttp } from './http-errors.js';
import { ServerMetrics } from './metrics.js';
import { nodeServerTimeouts } from './node-timeouts.js';
import { Policy } from './policy.js';
import { Readiness } from './readiness.js';
import { registerCodecRoutes } from './routes/codec-routes.js';
import { registerHealthRoutes } from './routes/health-routes.js';
import { registerLoginRoutes } from './routes/login-routes.js';

export interface BuildServerDeps {
  keyProvider: KeyProvider;
  logger: Logger;
  /** Tokens added at run time (the dev token), by hash. */
  extraTokens?: readonly { principal: string; sha256: string; groups: readonly string[] }[];
  https?: { cert: Buffer; key: Buffer };
  /** The shred store the key provider uses: the codec then forgets the cached keys of a shredded scope within watchIntervalMs (0: never). */
  shreds?: { store: ScopeSecretStore; watchIntervalMs: number };
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    audit?: Partial<AuditRecord>;
  }
}

export interface CodecServer {
  app: FastifyInstance;
  codec: EnvelopeCodec;
  metrics: ServerMetrics;
}

/** The codec server as an app, not yet listening: tests use inject(), serve() listens. */
export async function buildServer(config: Readonly<ServerConfig>, deps: BuildServerDeps): Promise<CodecServer> {
  let codec: EnvelopeCodec | undefined;
  const metrics = new ServerMetrics(() => codec?.keys.stats() ?? { encryptEntries: 0, decryptEntries: 0 });
  codec = new EnvelopeCodec({
    keyProviders: deps.keyProvider,
    defaultNamespace: config.codec.defaultNamespace,
    algorithm: config.codec.algorithm,
    keyHierarchy: config.codec.keyHierarchy,
    ...(config.codec.branchKeyMaxAgeMs === undefined ? {} : { branchKeyMaxAgeMs: config.codec.branchKeyMaxAgeMs }),
    // /decode with X-Envelope-Workflow-Id applies the rules a worker in that workflow applies.
    acceptNamespaceScoped: config.codec.acceptNamespaceScoped,
    scheduleRuns: config.codec.scheduleRuns,
    cache: { ...config.codec.cache },
    observer: metrics.observer(),
  });
  const shredWatch = deps.shreds && deps.shreds.watchIntervalMs > 0 ? forgetShreddedScopes(deps.shreds.store, codec.keys, deps.shreds.watchIntervalMs) : undefined;
  // Under `serve --workers`, state that must hold across workers goes through the primary.
  const peer = clusterPeer();
  const auth = new Authenticator(config.auth, deps.extraTokens, { secure: Boolean(deps.https) }, peer);
  const policy = new Policy(config.policy);
  const throttle = new FailedAuthThrottle(config.rateLimit.failedAuth, undefined, undefined, peer);

  const timeouts = nodeServerTimeouts(config.server.requestTimeoutMs);
  const app = Fastify({
    loggerInstance: deps.logger,
    // The audit line is the request log; fastify's own would double it.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.bodyLimitBytes,
    requestTimeout: config.server.requestTimeoutMs,
    connectionTimeout: config.server.requestTimeoutMs * 2,
    trustProxy: config.server.trustProxy,
    return503OnClosing: true,
    // Node applies these only when given at creation (node-timeouts.ts).
    ...(deps.https ? { https: { ...deps.https, ...timeouts } } : { http: timeouts }),
    clientErrorHandler: clientErrorHandler(config.server.requestTimeoutMs, deps.logger),
  }) as unknown as FastifyInstance;

  app.setErrorHandler((err, req, reply) => {
    const { status, body, unexpected } = toHttp(err);
    if (unexpected) req.log.error({ err: { type: (err as Error).name, code: (err as { code?: string }).code } }, 'unexpected error');
    const headers = errorHeaders(err);
    if (headers) void reply.headers(headers);
    void reply.code(status).type('application/json').send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } });
  });

  await app.register(cors, {
    origin: config.cors.origins.length ? [...config.cors.origins] : false,
    credentials: true,
    methods: ['POST', 'GET', 'OPTIONS'],
    allowedHeaders: ['Content-Type', 'Authorization', 'Authorization-Extras', 'X-Namespace', 'X-Envelope-Workflow-Id'],
    maxAge: 600,
  });
  if (config.rateLimit.enabled) {
    await app.register(rateLimit, {
      global: false,
      max: config.rateLimit.max,
      timeWindow: config.rateLimit.windowMs,
      hook: 'preHandler',
      ...(peer ? { store: peer.rateLimitStore } : {}),
      keyGenerator: (req) => (req.principal ? `p:${req.principal.id}` : `ip:${req.ip}`),
      errorResponseBuilder: (_req, ctx) => ({ statusCode: 429, error: 'Too Many Requests', message: `rate limit of ${ctx.max} requests per ${ctx.after} exceeded; retry later` }),
    });
  }

  if (shredWatch) app.addHook('onClose', async () => shredWatch.close());
  checkIssuerOnListen(app, auth, deps.logger, config.auth.jwt?.jwksUrl);
  // Ready means the keys are reachable and, with auth.jwt, the issuer's keys were fetched once.
  const readiness = new Readiness(async () => {
    await deps.keyProvider.checkReady();
    const issuer = await auth.issuerProblem();
    if (issuer !== undefined) throw issuerUnavailable(issuer);
  }, deps.logger);
  registerHealthRoutes(app, { readiness, metrics });
  registerCodecRoutes(app, { config, codec, auth, throttle, policy, metrics, logger: deps.logger });
  if (auth.sessions) registerLoginRoutes(app, { config, auth, throttle, sessions: auth.sessions, secure: Boolean(deps.https) });

  return { app, codec, metrics };
}
