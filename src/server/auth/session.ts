import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidConfigError } from '../../../primitives/errors.js';
import { decodeSecret } from '../../config/secret.js';
import type { VerifiedCredential } from './principal.js';

/**
 * Session cookies for browsers: the Temporal dev server's UI has no login of its own, but with
 * "include cross-origin credentials" it sends cookies to the codec server. The cookie holds
 * `base64url(JSON claims) . HMAC-SHA256` — no token, no token hash — and is HttpOnly.
 *
 * A session never outlives the credential it came from: `exp` is the earlier of `ttlSeconds` and
 * the credential's own expiry (a JWT's `exp`); a session from a static token carries `ref`, a MAC
 * of that token's configured hash, and is honoured only while a non-revoked token with that hash
 * is configured (the authenticator checks); `sid` lets a logout revoke this one session.
 */
export interface SessionClaims {
  /** Random session id, for logout. */
  sid: string;
  sub: string;
  groups: string[];
  src: 'static-token' | 'jwt';
  /** For static-token sessions: tokenRef() of the token's configured hash. */
  ref?: string;
  /** Issued at and expires at, seconds since the epoch. */
  iat: number;
  exp: number;
}

export type SessionCheck = { ok: true; claims: SessionClaims } | { ok: false; reason: 'invalid' | 'expired' };

// v2: claims with sid, src, ref and iat. Cookies of v1 (sub, groups, exp only) no longer verify.
const MAC_LABEL = 'temporal-envelope/session/v2\0';
const REF_LABEL = 'temporal-envelope/session-token-ref/v1\0';
const MAX_COOKIE_LENGTH = 4096;

export class SessionSigner {
  private readonly key: Buffer;

  constructor(
    secretBase64: string | undefined,
    readonly ttlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {
    this.key = secretBase64 === undefined ? randomBytes(32) : sessionKey(secretBase64);
  }

  /** A cookie value for `credential`, or undefined if the credential expires before a session could start. */
  issue(credential: VerifiedCredential): { cookie: string; claims: SessionClaims } | undefined {
    const iat = Math.floor(this.now() / 1000);
    // Whole seconds: a JWT's exp may be fractional, and Max-Age must not be.
    const exp = Math.min(iat + this.ttlSeconds, Math.floor(credential.expiresAt ?? Number.POSITIVE_INFINITY));
    if (exp <= iat) return undefined;
    const { principal } = credential;
    const claims: SessionClaims = {
      sid: randomBytes(16).toString('base64url'),
      sub: principal.id,
      groups: [...principal.groups],
      src: credential.staticTokenHash !== undefined ? 'static-token' : 'jwt',
      ...(credential.staticTokenHash !== undefined ? { ref: this.tokenRef(credential.staticTokenHash) } : {}),
      iat,
      exp,
    };
    const body = Buffer.from(JSON.stringify({ v: 2, ...claims })).toString('base64url');
    return { cookie: `${body}.${this.mac(body)}`, claims };
  }

  verify(cookie: string): SessionCheck {
    const dot = cookie.indexOf('.');
    if (dot <= 0 || cookie.length > MAX_COOKIE_LENGTH) return { ok: false, reason: 'invalid' };
    const body = cookie.slice(0, dot);
    const mac = Buffer.from(cookie.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.mac(body), 'base64url');
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return { ok: false, reason: 'invalid' };
    let c: Record<string, unknown>;
    try {
      c = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return { ok: false, reason: 'invalid' };
    }
    const { v, sid, sub, groups, src, ref, iat, exp } = c;
    if (v !== 2 || typeof sid !== 'string' || typeof sub !== 'string' || typeof iat !== 'number' || typeof exp !== 'number') return { ok: false, reason: 'invalid' };
    if (src !== 'static-token' && src !== 'jwt') return { ok: false, reason: 'invalid' };
    if (src === 'static-token' && typeof ref !== 'string') return { ok: false, reason: 'invalid' };
    if (exp * 1000 <= this.now()) return { ok: false, reason: 'expired' };
    const claims: SessionClaims = { sid, sub, groups: Array.isArray(groups) ? groups.filter((g): g is string => typeof g === 'string') : [], src, iat, exp };
    if (typeof ref === 'string') claims.ref = ref;
    return { ok: true, claims };
  }

  /**
   * What a session keeps of the static token it came from: a MAC of the token's configured
   * `sha256:` hash under the session key. It names the token only to a server holding both the
   * key and the config, so a cookie reveals neither the token nor the hash in the config.
   */
  tokenRef(sha256Hex: string): string {
    return createHmac('sha256', this.key).update(REF_LABEL).update(sha256Hex).digest().subarray(0, 16).toString('base64url');
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(MAC_LABEL).update(body).digest('base64url');
  }
}

function sessionKey(secretBase64: string): Buffer {
  const decoded = decodeSecret(secretBase64);
  if (!decoded.ok) throw new InvalidConfigError(`auth.session.secret ${decoded.problem}`);
  return decoded.bytes;
}
