import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidConfigError } from '../../../codecs/errors.js';
import { decodeSecret } from '../../config/secret.js';
import type { Principal } from './principal.js';

/**
 * Session cookies for browsers: the Temporal dev server's UI has no login of its own, but with
 * "include cross-origin credentials" it sends cookies to the codec server. The cookie holds
 * `base64url(JSON{sub, groups, exp}) . HMAC-SHA256` — no token, nothing secret — and is HttpOnly.
 */
export class SessionSigner {
  private readonly key: Buffer;

  constructor(
    secretBase64: string | undefined,
    readonly ttlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {
    this.key = secretBase64 === undefined ? randomBytes(32) : sessionKey(secretBase64);
  }

  issue(principal: Principal): string {
    const body = Buffer.from(JSON.stringify({ sub: principal.id, groups: principal.groups, exp: Math.floor(this.now() / 1000) + this.ttlSeconds })).toString('base64url');
    return `${body}.${this.mac(body)}`;
  }

  verify(cookie: string): Principal | undefined {
    const dot = cookie.indexOf('.');
    if (dot <= 0 || cookie.length > 8192) return undefined;
    const body = cookie.slice(0, dot);
    const mac = Buffer.from(cookie.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.mac(body), 'base64url');
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return undefined;
    try {
      const s = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { sub?: unknown; groups?: unknown; exp?: unknown };
      if (typeof s.sub !== 'string' || typeof s.exp !== 'number' || s.exp * 1000 <= this.now()) return undefined;
      const groups = Array.isArray(s.groups) ? s.groups.filter((g): g is string => typeof g === 'string') : [];
      return { id: s.sub, groups, via: 'session' };
    } catch {
      return undefined;
    }
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update('temporal-envelope/session/v1\0').update(body).digest('base64url');
  }
}

function sessionKey(secretBase64: string): Buffer {
  const decoded = decodeSecret(secretBase64);
  if (!decoded.ok) throw new InvalidConfigError(`auth.session.secret ${decoded.problem}`);
  return decoded.bytes;
}
