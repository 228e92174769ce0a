import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Authenticator } from './authenticator.js';

/**
 * With auth.jwt, fetch the issuer's keys as soon as the server listens and say in the log whether
 * that worked: a mistyped or unreachable JWKS URL was silent until every operator's sign-in failed
 * on it. Not awaited (start-up does not wait for the IdP), and not for inject() (no listen).
 */
export function checkIssuerOnListen(app: FastifyInstance, auth: Authenticator, logger: Logger, jwksUrl: string | undefined): void {
  if (jwksUrl === undefined) return;
  app.addHook('onListen', async () => {
    void auth.probeIssuer().then((problem) => {
      if (problem) logger.warn({ jwksUrl: auth.jwksLocation }, `auth.jwt.jwksUrl: ${problem}; tokens and sign-ins with a JWT get 503 ISSUER_UNAVAILABLE and /readyz stays 503 until the keys can be fetched`);
      else logger.info({ jwksUrl: auth.jwksLocation }, 'auth.jwt.jwksUrl: issuer keys fetched');
    });
  });
}
