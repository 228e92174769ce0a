/**
 * Session ids signed out on this replica, each kept until the session would have expired anyway
 * (after that its cookie fails on `exp`, so the entry is dead weight). Bounded: when full even
 * after dropping expired entries, it fails closed — every session issued on or before that second
 * ends on this replica (`issuedBefore`), and the list starts empty — rather than forgetting a
 * sign-out. Filling it takes `maxEntries` sign-outs of real sessions within one session lifetime,
 * each needing a login; the price is that everyone logs in again.
 *
 * In memory: a sign-out reaches only the replica that answered it. docs/codec-server.md says how
 * that is bounded (the browser drops the cookie everywhere; a copy of it lives until `exp`).
 */
export class SessionRevocations {
  private readonly expiresAt = new Map<string, number>();
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** Sessions issued at or before this time (seconds) are over; 0 until the list first overflows. */
  private issuedBefore = 0;
  private lastSweep: number;

  constructor(options: { maxEntries?: number; now?: () => number } = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.now = options.now ?? Date.now;
    this.lastSweep = this.now();
  }

  /** End session `sid`, whose cookie expires at `exp` (seconds). */
  revoke(sid: string, exp: number): void {
    // Expired entries go at most once a minute, or at once when the list is full.
    if (this.expiresAt.size >= this.maxEntries || this.now() - this.lastSweep >= 60_000) this.sweep();
    if (this.expiresAt.size >= this.maxEntries) {
      this.issuedBefore = Math.floor(this.now() / 1000);
      this.expiresAt.clear();
      return;
    }
    this.expiresAt.set(sid, exp);
  }

  /** Was session `sid`, issued at `iat` (seconds), signed out here? */
  isRevoked(sid: string, iat: number): boolean {
    return iat <= this.issuedBefore || this.expiresAt.has(sid);
  }

  get size(): number {
    return this.expiresAt.size;
  }

  private sweep(): void {
    this.lastSweep = this.now();
    const now = this.lastSweep / 1000;
    for (const [sid, exp] of this.expiresAt) if (exp <= now) this.expiresAt.delete(sid);
  }
}
