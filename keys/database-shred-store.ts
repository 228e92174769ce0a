import { randomBytes } from 'node:crypto';
import { KeyringError } from '../primitives/errors.js';
import { describeScope, type Scope } from '../primitives/scope.js';
import { SECRET_BYTES, scopeShredded, secretMissing, type ScopeSecretStatus, type ScopeSecretStore, type ShredEvent, type ShredOutcome } from './shred-store.js';

/**
 * What the database stores (DynamoDB, PostgreSQL) share: the store's semantics on top of two
 * database operations each implements, a read of a scope's entry and a conditional create that
 * never overwrites one. getOrCreate reads, creates only if nothing is there, and reads again — so
 * processes creating at once all return whichever secret landed, and a tombstone that landed first
 * wins over every creation. An error of the database is never read as "absent".
 */
export abstract class DatabaseScopeSecretStore implements ScopeSecretStore {
  abstract readonly description: string;

  constructor(private readonly random: (n: number) => Uint8Array = randomBytes) {}

  /** The scope's entry, read strongly consistently; undefined if there is none. */
  protected abstract read(scope: Scope): Promise<ScopeSecretRecord | undefined>;
  /** Store `secret` for the scope unless an entry (secret or tombstone) is already there; never overwrite. */
  protected abstract createIfAbsent(scope: Scope, secret: Uint8Array, created: Date): Promise<void>;

  abstract shred(scope: Scope, now?: Date): Promise<ShredOutcome>;
  abstract watchShreds(onShred: (event: ShredEvent) => void, intervalMs?: number): { close(): void };
  abstract close(): Promise<void>;

  async getOrCreate(scope: Scope): Promise<Uint8Array> {
    const existing = await this.read(scope);
    if (existing !== undefined) return this.secretOf(scope, existing);
    const secret = this.random(SECRET_BYTES);
    try {
      await this.createIfAbsent(scope, secret, new Date());
    } finally {
      secret.fill(0);
    }
    // Whichever secret landed (ours or a concurrent creator's), or the tombstone of a shred that won.
    const landed = await this.read(scope);
    if (landed === undefined) throw new KeyringError(`${this.description}: the secret for ${describeScope(scope)} vanished right after it was created (was its entry deleted?)`);
    return this.secretOf(scope, landed);
  }

  async get(scope: Scope): Promise<Uint8Array> {
    const record = await this.read(scope);
    if (record === undefined) throw secretMissing(this.description, scope);
    return this.secretOf(scope, record);
  }

  async status(scope: Scope): Promise<ScopeSecretStatus> {
    return statusOfRecord(await this.read(scope));
  }

  /** The secret, checked, as a copy the caller owns; the driver's buffer is wiped (its wire text is not ours to wipe). */
  private secretOf(scope: Scope, record: ScopeSecretRecord): Uint8Array {
    try {
      return secretOfRecord(this.description, scope, record);
    } finally {
      record.secret?.fill(0);
    }
  }
}

/** One scope's entry as a database store reads it: its secret while active, a tombstone after. */
export interface ScopeSecretRecord {
  readonly namespace: string;
  readonly workflowId?: string | undefined;
  readonly created: string;
  readonly secret?: Uint8Array | undefined;
  readonly shredded?: string | undefined;
}

/**
 * The secret of a record read for `scope`, checked: it must name that scope (an entry written under
 * the wrong key is corruption, not a secret to use), a tombstone is KEY_SHREDDED, and a secret must
 * have its 32 bytes. Returns a copy the caller owns (and wipes).
 */
export function secretOfRecord(store: string, scope: Scope, record: ScopeSecretRecord): Uint8Array {
  if (record.namespace !== scope.namespace || record.workflowId !== scope.workflowId) {
    throw new KeyringError(`${store}: the entry for ${describeScope(scope)} names another scope; the store is corrupt`);
  }
  if (record.shredded !== undefined) throw scopeShredded(scope, record.shredded);
  if (record.secret === undefined) throw new KeyringError(`${store}: the entry for ${describeScope(scope)} has neither a secret nor a tombstone`);
  if (record.secret.length !== SECRET_BYTES) {
    throw new KeyringError(`${store}: the secret for ${describeScope(scope)} has ${record.secret.length} bytes, expected ${SECRET_BYTES}`);
  }
  return Uint8Array.from(record.secret);
}

export function statusOfRecord(record: ScopeSecretRecord | undefined): ScopeSecretStatus {
  if (record === undefined) return { state: 'absent' };
  if (record.shredded !== undefined) return { state: 'shredded', shredded: record.shredded };
  return { state: 'active', created: record.created };
}
