import { isIPv4, isIPv6 } from 'node:net';
import { LRUCache } from 'lru-cache';
import type { ClusterPeer } from '../cluster.js';
import { HttpError } from '../http-errors.js';

/**
 * A limit on failed authentication per client address, applied before any credential is checked:
 * once an address has had `max` unproven credentials (see http-errors `unproven`) within a window,
 * every authentication attempt from it is refused with 429 and Retry-After until the window ends —
 * without looking at the credential, so guessing costs the guesser time and this server nothing.
 *
 * The address is fastify's req.ip: the socket's peer, or with `server.trustProxy` what fastify
 * reads from X-Forwarded-For, so the limit follows exactly the trust the operator configured. IPv6
 * clients count by /64 (a host usually holds the whole prefix); IPv4-mapped IPv6 as IPv4. The
 * window is fixed, starting at an address's first failure.
 *
 * In memory and per replica (across `serve --workers` processes through the primary: see
 * cluster.ts); at most `maxAddresses` addresses are tracked (least recently failed
 * forgotten first), which bounds memory against a guesser with very many addresses.
 */
export interface FailedAuthLimit {
  enabled: boolean;
  max: number;
  windowMs: number;
}

interface Window {
  failures: number;
  endsAt: number;
}

export class FailedAuthThrottle {
  private readonly windows: LRUCache<string, Window>;

  constructor(
    private readonly limit: FailedAuthLimit,
    private readonly now: () => number = Date.now,
    maxAddresses = 100_000,
    private readonly peer?: Pick<ClusterPeer, 'reportAuthFailure' | 'onAuthWindow'>,
  ) {
    this.windows = new LRUCache({ max: maxAddresses });
    // The primary's window for an address is the sum over all workers: adopt it.
    peer?.onAuthWindow((key, failures, endsAt) => {
      const w = this.windows.get(key);
      if (w && w.endsAt === endsAt) w.failures = Math.max(w.failures, failures);
      else this.windows.set(key, { failures, endsAt });
    });
  }

  /** Run an authentication attempt from `address`, refusing it outright while the address is over the limit. */
  async guard<T>(address: string | undefined, attempt: () => Promise<T>): Promise<T> {
    if (!this.limit.enabled) return attempt();
    const key = addressKey(address);
    const now = this.now();
    const w = this.windows.get(key);
    if (w && w.endsAt > now && w.failures >= this.limit.max) {
      throw new HttpError('RATE_LIMITED', `too many failed authentication attempts from this address; retry after ${Math.ceil((w.endsAt - now) / 1000)} s`, {
        retryAfterSeconds: Math.max(1, Math.ceil((w.endsAt - now) / 1000)),
      });
    }
    try {
      return await attempt();
    } catch (err) {
      if (err instanceof HttpError && err.detail.unproven) this.fail(key);
      throw err;
    }
  }

  private fail(key: string): void {
    this.peer?.reportAuthFailure(key, this.limit.max, this.limit.windowMs);
    const now = this.now();
    const w = this.windows.get(key);
    if (!w || w.endsAt <= now) this.windows.set(key, { failures: 1, endsAt: now + this.limit.windowMs });
    else w.failures++;
  }
}

/** The unit a client is counted by: an IPv4 address, or an IPv6 /64. */
export function addressKey(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  const ip = address.split('%')[0]!;
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  const groups = expandIPv6(ip);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, as lowercase hex without leading zeros. */
function expandIPv6(ip: string): string[] {
  const toGroups = (s: string) =>
    s === ''
      ? []
      : s.split(':').flatMap((g) => {
          if (!g.includes('.')) return [g];
          const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
          return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
        });
  const [head, tail] = ip.includes('::') ? (ip.split('::') as [string, string]) : [ip, undefined];
  const left = toGroups(head);
  const right = tail === undefined ? [] : toGroups(tail);
  const all = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return all.map((g) => parseInt(g, 16).toString(16));
}
