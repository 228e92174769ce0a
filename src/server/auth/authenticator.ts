import type { ServerConfig } from '../../config/schema.js';
import { unauthenticated } from '../http-errors.js';
import { JwtVerifier, looksLikeJwt } from './jwt.js';
import type { Principal } from './principal.js';
import { findCookie } from './cookie-header.js';
import { SessionSigner } from './session.js';
import { StaticTokens } from './static-tokens.js';

/**
 * Bearer token (static or JWT) first, then the session cookie. A present but bad credential is
 * refused outright rather than falling back to another, so a revoked token cannot ride a cookie.
 */
export class Authenticator {
  readonly sessions: SessionSigner | undefined;
  private readonly tokens: StaticTokens;
  private readonly jwt: JwtVerifier | undefined;

  constructor(
    private readonly config: ServerConfig['auth'],
    extraTokens: readonly { principal: string; sha256: string; groups: readonly string[] }[] = [],
  ) {
    this.tokens = new StaticTokens([...config.staticTokens, ...extraTokens.map((t) => ({ ...t, revoked: false }))]);
    this.jwt = config.jwt ? new JwtVerifier(config.jwt) : undefined;
    this.sessions = config.session.enabled ? new SessionSigner(config.session.secret, config.session.ttlSeconds) : undefined;
  }

  async authenticate(headers: Record<string, string | string[] | undefined>): Promise<Principal> {
    const auth = header(headers, 'authorization');
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (!m) throw unauthenticated('Authorization header must be "Bearer <token>"');
      return this.verifyToken(m[1]!);
    }
    const cookie = this.sessions ? findCookie(header(headers, 'cookie'), this.config.session.cookieName) : { kind: 'absent' as const };
    if (cookie.kind === 'malformed') throw unauthenticated(`session cookie ${cookie.reason}; log in again at /login`);
    if (cookie.kind === 'value') {
      const p = this.sessions!.verify(cookie.value);
      if (!p) throw unauthenticated('session expired or invalid; log in again at /login');
      return p;
    }
    throw unauthenticated('no credentials: send "Authorization: Bearer <token>" or log in at /login');
  }

  async verifyToken(token: string): Promise<Principal> {
    const fromStatic = this.tokens.verify(token);
    if (fromStatic === 'revoked') throw unauthenticated('token has been revoked');
    if (fromStatic) return fromStatic;
    if (this.jwt && looksLikeJwt(token)) {
      const r = await this.jwt.verify(token);
      if (r.ok) return r.principal;
      throw unauthenticated(r.reason);
    }
    throw unauthenticated('token is not recognised');
  }
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
