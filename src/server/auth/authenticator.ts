import type { ServerConfig } from '../../config/schema.js';
import type { ClusterPeer } from '../cluster.js';
import { issuerUnavailable, unauthenticated, unproven } from '../http-errors.js';
import { findCookie } from './cookie-header.js';
import { JwtVerifier, looksLikeJwt } from './jwt.js';
import type { Principal, VerifiedCredential } from './principal.js';
import { SessionRevocations } from './session-revocations.js';
import { explainMissingCredentials, RecentSignInHosts } from './session-hints.js';
import { SessionSigner } from './session.js';
import { StaticTokens, type StaticTokenEntry } from './static-tokens.js';

type Headers = Record<string, string | string[] | undefined>;

/**
 * Bearer token (static or JWT) first, then the session cookie. A present but bad credential is
 * refused outright rather than falling back to another, so a revoked token cannot ride a cookie.
 *
 * A bearer token that does not prove itself is refused as `unproven`, which the failed-
 * authentication throttle counts against the caller's address. Session cookies never are: a
 * 256-bit MAC cannot be guessed, and the cookies that fail it are mostly stale ones (a restart
 * without a configured secret, an older cookie format) that a browser sends again and again —
 * counting them would lock operators out of /login.
 */
export class Authenticator {
  readonly sessions: SessionSigner | undefined;
  private readonly tokens: StaticTokens;
  private readonly jwt: JwtVerifier | undefined;
  /** Active static tokens by the reference their sessions carry (SessionSigner.tokenRef). */
  private readonly sessionTokens = new Map<string, StaticTokenEntry>();
  private readonly revocations = new SessionRevocations();
  /** Where /login issued sessions lately: to explain a request that comes without one. */
  private readonly signIns: RecentSignInHosts | undefined;

  constructor(
    private readonly config: ServerConfig['auth'],
    extraTokens: readonly { principal: string; sha256: string; groups: readonly string[] }[] = [],
    private readonly options: { secure?: boolean } = {},
    /** Under `serve --workers`: sign-outs reach every worker (cluster.ts). */
    private readonly peer?: Pick<ClusterPeer, 'revokeSession' | 'onRevoke'>,
  ) {
    peer?.onRevoke((sid, exp) => this.revocations.revoke(sid, exp));
    this.tokens = new StaticTokens([...config.staticTokens, ...extraTokens.map((t) => ({ ...t, revoked: false }))]);
    this.jwt = config.jwt ? new JwtVerifier(config.jwt) : undefined;
    this.sessions = config.session.enabled ? new SessionSigner(config.session.secret, config.session.ttlSeconds) : undefined;
    if (this.sessions) for (const e of this.tokens.active()) this.sessionTokens.set(this.sessions.tokenRef(e.sha256.replace(/^sha256:/, '')), e);
    this.signIns = this.sessions ? new RecentSignInHosts(config.session.ttlSeconds * 1000) : undefined;
  }

  /** /login issued a session on this host (Host header): remembered to explain a 401 on another. */
  noteSignIn(host: string | undefined): void {
    if (host !== undefined) this.signIns?.note(host);
  }

  async authenticate(headers: Headers): Promise<Principal> {
    const auth = header(headers, 'authorization');
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (!m) throw unproven('Authorization header must be "Bearer <token>"');
      return this.verifyToken(m[1]!);
    }
    const cookie = this.sessions ? findCookie(header(headers, 'cookie'), this.config.session.cookieName) : { kind: 'absent' as const };
    if (cookie.kind === 'malformed') throw unauthenticated(`session cookie ${cookie.reason}; log in again at /login`);
    if (cookie.kind === 'value') return this.sessionPrincipal(cookie.value);
    const forwardedHttps = header(headers, 'x-forwarded-proto') === 'https';
    throw unauthenticated(
      explainMissingCredentials({
        origin: header(headers, 'origin'),
        host: header(headers, 'host'),
        userAgent: header(headers, 'user-agent'),
        scheme: this.options.secure || forwardedHttps ? 'https' : 'http',
        signIns: this.signIns,
      }),
    );
  }

  /**
   * Fetch the JWT issuer's keys now: why they could not be fetched, or undefined (also without
   * auth.jwt). For start-up, so an unreachable JWKS URL shows before the first sign-in fails on it.
   */
  async probeIssuer(): Promise<string | undefined> {
    return this.jwt?.probe();
  }

  /**
   * For /readyz: why no JWT can be verified, or undefined. Only while the issuer's keys have never
   * been fetched (a mistyped or unreachable auth.jwt.jwksUrl keeps a new deployment from becoming
   * ready instead of replacing working replicas); once fetched, jose keeps them through a failed
   * refresh, so an IdP blip does not take every replica out of service.
   */
  async issuerProblem(): Promise<string | undefined> {
    if (this.jwt === undefined || this.jwt.hasKeys) return undefined;
    return this.jwt.probe();
  }

  /** The JWKS URL as messages name it (no query), with auth.jwt. */
  get jwksLocation(): string | undefined {
    return this.jwt?.jwksLocation;
  }

  async verifyToken(token: string): Promise<Principal> {
    return (await this.verifyCredential(token)).principal;
  }

  /** A bearer token checked, with what a session made from it must not outlive (for /login). */
  async verifyCredential(token: string): Promise<VerifiedCredential> {
    const fromStatic = this.tokens.verify(token);
    if (fromStatic === 'revoked') throw unauthenticated('token has been revoked');
    if (fromStatic) return fromStatic;
    if (this.jwt && looksLikeJwt(token)) {
      const r = await this.jwt.verify(token);
      if (r.ok) return r.credential;
      if (r.issuerUnavailable) throw issuerUnavailable(r.reason);
      throw r.unproven ? unproven(r.reason) : unauthenticated(r.reason);
    }
    throw unproven('token is not recognised');
  }

  /**
   * Sign out the session in these headers, if there is a valid one: its id is refused from now on
   * (on this replica; see SessionRevocations). Returns who it was, for the audit line.
   */
  endSession(headers: Headers): string | undefined {
    if (!this.sessions) return undefined;
    const cookie = findCookie(header(headers, 'cookie'), this.config.session.cookieName);
    if (cookie.kind !== 'value') return undefined;
    const r = this.sessions.verify(cookie.value);
    if (!r.ok) return undefined;
    this.revocations.revoke(r.claims.sid, r.claims.exp);
    this.peer?.revokeSession(r.claims.sid, r.claims.exp);
    return r.claims.sub;
  }

  private sessionPrincipal(cookie: string): Principal {
    const r = this.sessions!.verify(cookie);
    if (!r.ok) throw unauthenticated(r.reason === 'expired' ? 'session expired; log in again at /login' : 'session is not valid; log in again at /login');
    const { claims } = r;
    if (this.revocations.isRevoked(claims.sid, claims.iat)) throw unauthenticated('session was signed out; log in again at /login');
    if (claims.src === 'jwt') return { id: claims.sub, groups: claims.groups, via: 'session' };
    // A static-token session lives only while its token is configured and not revoked, and has
    // that token's current principal and groups.
    const entry = this.sessionTokens.get(claims.ref ?? '');
    if (!entry) throw unauthenticated('session ended: the token it came from is no longer valid; log in again at /login');
    return { id: entry.principal, groups: entry.groups, via: 'session' };
  }
}

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
