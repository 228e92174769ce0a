import { LRUCache } from 'lru-cache';
import { InvalidConfigError, KeyLimitExceededError, isEnvelopeError } from '../primitives/errors.js';
import { describeScope, scopeKey, type Scope } from '../primitives/scope.js';
import { observeKmsCall, type KeyObserver, type KeyProvider } from './key-provider.js';
import { startPurgeTimer } from './purge-timer.js';

export interface DekCacheLimits {
  /** How long one data key seals new payloads for a scope before a fresh one is made. Default 1 h. */
  maxAgeMs?: number;
  /** Payloads one data key may seal. Default 2^20; never above the cipher's own limit. */
  maxPayloadsPerKey?: number;
  /** Plaintext bytes one data key may seal. Default 2^36 (64 GiB). */
  maxBytesPerKey?: number;
  /** Scopes (workflows) whose encrypt keys stay cached. Default 10,000. */
  maxEntries?: number;
  /** Unwrapped keys kept for decryption, by wrapped bytes. Default 10,000. */
  maxDecryptEntries?: number;
  /** How long an unwrapped key stays cached for decryption. Default 1 h. */
  decryptMaxAgeMs?: number;
  /**
   * When KMS is unavailable, keep sealing with a key up to this long past `maxAgeMs` (the payload and
   * byte limits still hold). Keeps workers running through a KMS outage. Default 15 min.
   */
  staleGraceMs?: number;
}

export interface DekCacheOptions extends DekCacheLimits {
  clock?: () => number;
  observer?: KeyObserver;
  /** Hard ceiling from the cipher; `maxPayloadsPerKey` is validated against it. */
  cipherMessageLimit?: number;
}

interface EncryptEntry {
  /** scopeKey of the scope it seals for. */
  readonly scope: string;
  readonly key: Uint8Array;
  readonly wrapped: Uint8Array;
  readonly keyId: string;
  readonly created: number;
  payloads: number;
  bytes: number;
  /** Set when the entry leaves the cache and its key is wiped; a caller that awaited it must not use it. */
  wiped: boolean;
}

interface DecryptEntry {
  readonly scope: string;
  readonly key: Uint8Array;
}

/** A copy of the key for one use: callers wipe it after sealing, so cache eviction never races a use. */
export interface LeasedDataKey {
  readonly key: Uint8Array;
  readonly wrapped: Uint8Array;
  readonly keyId: string;
}

const DEFAULTS = {
  maxAgeMs: 60 * 60 * 1000,
  maxPayloadsPerKey: 2 ** 20,
  maxBytesPerKey: 2 ** 36,
  maxEntries: 10_000,
  maxDecryptEntries: 10_000,
  decryptMaxAgeMs: 60 * 60 * 1000,
  staleGraceMs: 15 * 60 * 1000,
} as const;

/**
 * Data keys by scope for sealing and by wrapped bytes for opening, so KMS is called once per scope
 * per key lifetime rather than once per payload. Concurrent misses for the same key share one KMS
 * call. Key bytes are wiped when an entry leaves the cache: evicted, forgotten, or expired. Both
 * caches expire by age (encrypt keys after maxAgeMs + staleGraceMs, the longest one may still
 * seal; decrypt keys after decryptMaxAgeMs), and a timer purges expired keys of scopes nobody uses
 * any more, so an idle worker does not keep them in memory.
 */
export class DataKeyCache {
  readonly limits: Readonly<Required<DekCacheLimits>>;
  private readonly clock: () => number;
  private readonly observer: KeyObserver;
  private readonly encrypt: LRUCache<string, EncryptEntry>;
  private readonly decrypt: LRUCache<string, DecryptEntry>;
  private readonly inflightEncrypt = new Map<string, Promise<EncryptEntry>>();
  private readonly inflightDecrypt = new Map<string, Promise<DecryptEntry>>();
  /** scopeKey -> the ids of that scope's entries in each cache, so forgetScope touches only them. */
  private readonly byScope = new Map<string, { encrypt: Set<string>; decrypt: Set<string> }>();
  private readonly purgeTimer: NodeJS.Timeout;

  constructor(
    private readonly provider: KeyProvider,
    options: DekCacheOptions = {},
  ) {
    this.limits = Object.freeze(validateLimits(options, options.cipherMessageLimit ?? 2 ** 32));
    this.clock = options.clock ?? Date.now;
    this.observer = options.observer ?? {};
    // ttlResolution 0: read the clock on every check (an injected clock may jump).
    const clock = { perf: { now: () => this.clock() }, ttlAutopurge: false, ttlResolution: 0 };
    this.encrypt = new LRUCache<string, EncryptEntry>({
      max: this.limits.maxEntries,
      ttl: this.limits.maxAgeMs + this.limits.staleGraceMs,
      ...clock,
      dispose: (entry, id) => {
        entry.wiped = true;
        entry.key.fill(0);
        this.unindex(entry.scope, 'encrypt', id);
      },
    });
    this.decrypt = new LRUCache<string, DecryptEntry>({
      max: this.limits.maxDecryptEntries,
      ttl: this.limits.decryptMaxAgeMs,
      ...clock,
      dispose: (entry, id) => {
        entry.key.fill(0);
        this.unindex(entry.scope, 'decrypt', id);
      },
    });
    this.purgeTimer = startPurgeTimer(this, Math.min(this.limits.maxAgeMs + this.limits.staleGraceMs, this.limits.decryptMaxAgeMs));
  }

  /** A key to seal one payload of `plaintextBytes` for `scope`. */
  async leaseForEncrypt(scope: Scope, algorithm: string, plaintextBytes: number): Promise<LeasedDataKey> {
    const id = `${algorithm}|${scopeKey(scope)}`;
    for (let attempt = 0; attempt < 3; attempt++) {
      const cached = this.encrypt.get(id);
      if (cached !== undefined && this.fresh(cached) && this.hasRoom(cached, plaintextBytes)) {
        this.observer.onCacheHit?.('encrypt');
        return this.take(cached, plaintextBytes);
      }
      this.observer.onCacheMiss?.('encrypt');
      let entry: EncryptEntry;
      try {
        entry = await this.coalesce(this.inflightEncrypt, id, () => this.generate(id, scope));
      } catch (err) {
        // KMS is down: a key past its age but within the grace period and its usage limits keeps
        // the worker sealing rather than failing every workflow task.
        if (cached !== undefined && isRetryable(err) && this.withinGrace(cached) && this.hasRoom(cached, plaintextBytes)) {
          return this.take(cached, plaintextBytes);
        }
        throw err;
      }
      if (this.hasRoom(entry, plaintextBytes)) return this.take(entry, plaintextBytes);
      // Other callers used the new key up between its arrival and us: go round again.
    }
    throw new KeyLimitExceededError(`data key for ${describeScope(scope)} reached its usage limit repeatedly; retry`);
  }

  /** The unwrapped key for a wrapped DEK. Seeded by our own encrypts, so a worker reading back its own payloads calls no KMS. */
  async leaseForDecrypt(keyId: string, wrapped: Uint8Array, scope: Scope): Promise<Uint8Array> {
    const id = decryptId(keyId, wrapped, scope);
    const cached = this.decrypt.get(id);
    if (cached !== undefined) {
      this.observer.onCacheHit?.('decrypt');
      return Uint8Array.from(cached.key);
    }
    this.observer.onCacheMiss?.('decrypt');
    const entry = await this.coalesce(this.inflightDecrypt, id, async () => {
      const key = await this.timed('decrypt', () => this.provider.decryptDataKey(keyId, wrapped, scope));
      const own = { scope: scopeKey(scope), key: Uint8Array.from(key) };
      key.fill(0);
      this.remember('decrypt', id, own);
      return own;
    });
    return Uint8Array.from(entry.key);
  }

  /** Forget every key (e.g. after a KEK is retired); bytes are wiped. */
  clear(): void {
    this.encrypt.clear();
    this.decrypt.clear();
  }

  /** Drop (and wipe) the cached keys of one scope, and only those: its next use goes back to the provider. */
  forgetScope(scope: Scope): void {
    const ids = this.byScope.get(scopeKey(scope));
    if (ids === undefined) return;
    for (const id of [...ids.encrypt]) this.encrypt.delete(id);
    for (const id of [...ids.decrypt]) this.decrypt.delete(id);
  }

  /** Drop and wipe every expired key now (a timer does this every minute). */
  purgeExpired(): void {
    this.encrypt.purgeStale();
    this.decrypt.purgeStale();
  }

  /** Wipe every key and stop the purge timer. */
  close(): void {
    clearInterval(this.purgeTimer);
    this.clear();
  }

  stats(): { encryptEntries: number; decryptEntries: number } {
    return { encryptEntries: this.encrypt.size, decryptEntries: this.decrypt.size };
  }

  private async generate(id: string, scope: Scope): Promise<EncryptEntry> {
    const dk = await this.timed('generate', () => this.provider.generateDataKey(scope));
    const entry: EncryptEntry = {
      scope: scopeKey(scope),
      key: Uint8Array.from(dk.plaintext),
      wrapped: Uint8Array.from(dk.wrapped),
      keyId: dk.keyId,
      created: this.clock(),
      payloads: 0,
      bytes: 0,
      wiped: false,
    };
    dk.plaintext.fill(0);
    this.remember('encrypt', id, entry);
    this.remember('decrypt', decryptId(entry.keyId, entry.wrapped, scope), { scope: entry.scope, key: Uint8Array.from(entry.key) });
    return entry;
  }

  private remember(cache: 'encrypt', id: string, entry: EncryptEntry): void;
  private remember(cache: 'decrypt', id: string, entry: DecryptEntry): void;
  private remember(cache: 'encrypt' | 'decrypt', id: string, entry: EncryptEntry | DecryptEntry): void {
    // set() first: replacing an entry disposes the old one, which takes its id out of the index.
    if (cache === 'encrypt') this.encrypt.set(id, entry as EncryptEntry);
    else this.decrypt.set(id, entry);
    let ids = this.byScope.get(entry.scope);
    if (ids === undefined) {
      ids = { encrypt: new Set(), decrypt: new Set() };
      this.byScope.set(entry.scope, ids);
    }
    ids[cache].add(id);
  }

  private unindex(scope: string, cache: 'encrypt' | 'decrypt', id: string): void {
    const ids = this.byScope.get(scope);
    if (ids === undefined) return;
    ids[cache].delete(id);
    if (ids.encrypt.size === 0 && ids.decrypt.size === 0) this.byScope.delete(scope);
  }

  private fresh(entry: EncryptEntry): boolean {
    return this.clock() - entry.created < this.limits.maxAgeMs && entry.keyId === this.provider.primaryKeyId();
  }

  private withinGrace(entry: EncryptEntry): boolean {
    return this.clock() - entry.created < this.limits.maxAgeMs + this.limits.staleGraceMs;
  }

  private hasRoom(entry: EncryptEntry, bytes: number): boolean {
    return entry.payloads < this.limits.maxPayloadsPerKey && entry.bytes + bytes <= this.limits.maxBytesPerKey && !entry.wiped;
  }

  private take(entry: EncryptEntry, bytes: number): LeasedDataKey {
    entry.payloads += 1;
    entry.bytes += bytes;
    return { key: Uint8Array.from(entry.key), wrapped: entry.wrapped, keyId: entry.keyId };
  }

  private async coalesce<T>(inflight: Map<string, Promise<T>>, id: string, make: () => Promise<T>): Promise<T> {
    const pending = inflight.get(id);
    if (pending !== undefined) return pending;
    const p = make().finally(() => inflight.delete(id));
    inflight.set(id, p);
    return p;
  }

  private timed<T>(op: 'generate' | 'decrypt', call: () => Promise<T>): Promise<T> {
    return observeKmsCall(this.observer, op, this.provider.name, call);
  }
}

// A plain string rather than a hash: decoding looks this up for every payload, and only keys that
// unwrapped successfully are ever stored, so hostile input cannot fill the cache with long ids.
function decryptId(keyId: string, wrapped: Uint8Array, scope: Scope): string {
  return `${keyId}\0${scopeKey(scope)}\0${Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength).toString('base64')}`;
}

function isRetryable(err: unknown): boolean {
  return isEnvelopeError(err) && err.retryable;
}

function validateLimits(options: DekCacheLimits, cipherLimit: number): Required<DekCacheLimits> {
  const out = { ...DEFAULTS } as Required<DekCacheLimits>;
  for (const key of Object.keys(DEFAULTS) as (keyof DekCacheLimits)[]) {
    const v = options[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < (key === 'staleGraceMs' ? 0 : 1) || !Number.isInteger(v)) {
      throw new InvalidConfigError(`cache "${key}" expected a positive whole number, got ${JSON.stringify(v)}`);
    }
    out[key] = v;
  }
  if (out.maxPayloadsPerKey > cipherLimit) {
    throw new InvalidConfigError(`cache "maxPayloadsPerKey" expected at most ${cipherLimit} (the cipher's safe limit), got ${out.maxPayloadsPerKey}`);
  }
  return out;
}
