import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerConfig } from '../../config/schema.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { FailedAuthThrottle } from '../auth/failed-auth-throttle.js';
import type { SessionSigner } from '../auth/session.js';
import { errorHeaders, toHttp, unauthenticated } from '../http-errors.js';
import { checkSameOrigin } from '../same-origin.js';

interface Deps {
  config: Readonly<ServerConfig>;
  auth: Authenticator;
  throttle: FailedAuthThrottle;
  sessions: SessionSigner;
  secure: boolean;
}

const PAGE = (message: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>temporal-envelope: operator login</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}input,button{font:inherit;padding:.4rem;width:100%;box-sizing:border-box;margin:.3rem 0}</style>
</head><body>
<h1>Codec server login</h1>
<p>Sign in so the Temporal UI can show decoded payloads you are allowed to see. Paste an access token (OIDC) or an API token.</p>
<p id="message" role="status">${escapeHtml(message)}</p>
<form method="post" action="/login">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="off" required>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>
</body></html>
`;

/**
 * A session for browsers: the Temporal UI sends the codec server cookies when its "include
 * cross-origin credentials" setting is on, so an operator who logs in here once can decode in the
 * UI even where the UI itself has no login (the dev server's). The cookie carries no token, and the
 * session ends no later than the token it came from (auth/session.ts).
 */
export function registerLoginRoutes(app: FastifyInstance, deps: Deps): void {
  const { config, auth, throttle, sessions } = deps;
  const name = config.auth.session.cookieName;
  // SameSite=Lax: the UI and the codec server are usually same-site (ports do not change the site),
  // and Lax keeps the cookie off cross-site POSTs. Secure whenever we serve HTTPS.
  const attrs = `Path=/; HttpOnly; SameSite=Lax${deps.secure ? '; Secure' : ''}`;

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.get('/login', async (_req, reply) => html(reply, 200, ''));

  // The per-address request limit (no principal yet), on top of the failed-authentication throttle.
  const rateLimit = config.rateLimit.enabled ? { config: { rateLimit: {} } } : {};

  // Both set or clear the session cookie: only this server's own pages may post to them (CSRF).
  const sameOriginOnly = (route: '/login' | '/logout') => async (req: FastifyRequest, reply: FastifyReply) => {
    const check = checkSameOrigin(req);
    if (check.ok) return;
    req.log.info({ audit: { route, principal: null, decision: 'denied', error: 'CROSS_ORIGIN', remoteAddress: req.ip } }, `audit ${route} denied`);
    return wantsJson(req) ? reply.code(403).send({ error: { code: 'FORBIDDEN', message: `refused: ${check.reason}` } }) : html(reply, 403, `Refused: ${check.reason}.`);
  };

  app.post('/login', { ...rateLimit, onRequest: sameOriginOnly('/login') }, async (req, reply) => {
    const token = (req.body as { token?: unknown } | undefined)?.token;
    const json = wantsJson(req);
    if (typeof token !== 'string' || token.length === 0 || token.length > 16_384) {
      return json ? reply.code(400).send({ error: { code: 'BAD_REQUEST', message: 'body needs a "token" string' } }) : html(reply, 400, 'Enter a token.');
    }
    try {
      const credential = await throttle.guard(req.ip, () => auth.verifyCredential(token.trim()));
      const { principal } = credential;
      // The session ends no later than the credential (a JWT's exp), and at most after ttlSeconds.
      const session = sessions.issue(credential);
      if (!session) throw unauthenticated('token expires too soon to start a session');
      const maxAge = session.claims.exp - session.claims.iat;
      void reply.header('set-cookie', `${name}=${session.cookie}; ${attrs}; Max-Age=${maxAge}`);
      req.log.info({ audit: { route: '/login', principal: principal.id, via: principal.via, decision: 'allowed' } }, 'audit /login allowed');
      return json ? { principal: principal.id, expiresInSeconds: maxAge } : html(reply, 200, `Signed in as ${principal.id}. You can close this tab and reload the Temporal UI.`);
    } catch (err) {
      const { status, body } = toHttp(err);
      const headers = errorHeaders(err);
      if (headers) void reply.headers(headers);
      req.log.info({ audit: { route: '/login', principal: null, decision: 'unauthenticated', error: body.error.code } }, 'audit /login unauthenticated');
      return json ? reply.code(status).send(body) : html(reply, status, `Sign-in failed: ${body.error.message}`);
    }
  });

  app.post('/logout', { onRequest: sameOriginOnly('/logout') }, async (req, reply) => {
    // Revoke the session id (so a copy of the cookie stops working here too), then drop the cookie.
    const principal = auth.endSession(req.headers) ?? null;
    req.log.info({ audit: { route: '/logout', principal, decision: principal ? 'signed-out' : 'no-session' } }, 'audit /logout');
    void reply.header('set-cookie', `${name}=; ${attrs}; Max-Age=0`);
    return html(reply, 200, 'Signed out.');
  });
}

function wantsJson(req: FastifyRequest): boolean {
  return req.headers['content-type']?.startsWith('application/json') ?? false;
}

function html(reply: FastifyReply, status: number, message: string) {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
    .header('x-frame-options', 'DENY')
    .send(PAGE(message));
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
