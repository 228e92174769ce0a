import { randomBytes } from 'node:crypto';
import { KeyShreddedError, KeyringError } from '../../primitives/errors.js';
import { describeScope, scopeKey, type Scope } from '../../primitives/scope.js';
import type { ScopeSecretStatus, ScopeSecretStore, ShredOutcome } from '../../keys/shred-store.js';

/**
 * A shred store in memory, seeded with known secrets: what known-answer vectors of crypto-shreddable
 * payloads need (published test secrets, no directory). Test-only.
 */
export class MemoryScopeSecretStore implements ScopeSecretStore {
  readonly description = 'shred store in memory';
  private readonly secrets = new Map<string, { secret?: Uint8Array; created: string; shredded?: string }>();

  constructor(private readonly random: (n: number) => Uint8Array = randomBytes) {}

  /** Put a known secret in for a scope (a vector's). */
  seed(scope: Scope, secret: Uint8Array): void {
    this.secrets.set(scopeKey(scope), { secret: Uint8Array.from(secret), created: new Date(0).toISOString() });
  }

  /** The secret a scope has now (copied), for writing vectors. */
  peek(scope: Scope): Uint8Array | undefined {
    const s = this.secrets.get(scopeKey(scope))?.secret;
    return s === undefined ? undefined : Uint8Array.from(s);
  }

  async getOrCreate(scope: Scope): Promise<Uint8Array> {
    if (!this.secrets.has(scopeKey(scope))) this.secrets.set(scopeKey(scope), { secret: Uint8Array.from(this.random(32)), created: new Date().toISOString() });
    return this.get(scope);
  }

  async get(scope: Scope): Promise<Uint8Array> {
    const entry = this.secrets.get(scopeKey(scope));
    if (entry === undefined) throw new KeyringError(`no secret for ${describeScope(scope)} in ${this.description}`);
    if (entry.secret === undefined) throw new KeyShreddedError(`${describeScope(scope)} was shredded`);
    return Uint8Array.from(entry.secret);
  }

  async shred(scope: Scope, now = new Date()): Promise<ShredOutcome> {
    const before = (await this.status(scope)).state;
    const entry = this.secrets.get(scopeKey(scope));
    entry?.secret?.fill(0);
    this.secrets.set(scopeKey(scope), { created: entry?.created ?? now.toISOString(), shredded: now.toISOString() });
    return { before, shredded: now.toISOString() };
  }

  async status(scope: Scope): Promise<ScopeSecretStatus> {
    const entry = this.secrets.get(scopeKey(scope));
    if (entry === undefined) return { state: 'absent' };
    if (entry.secret === undefined) return { state: 'shredded', shredded: entry.shredded ?? '' };
    return { state: 'active', created: entry.created };
  }
}
