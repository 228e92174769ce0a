import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import {
  BRANCH_KEY_BYTES,
  DEK_SALT_BYTES,
  branchKeyScope,
  deriveBranchDataKey,
  isBranchKeyScope,
  isKeyHierarchy,
  packBranchWrapped,
  unpackBranchWrapped,
  type KeyHierarchy,
} from '../primitives/branch-key.js';
import { InvalidConfigError, KmsUnavailableError, TamperedCiphertextError, UnsupportedFormatError, isEnvelopeError } from '../primitives/errors.js';
import type { Scope } from '../primitives/scope.js';
import { ForwardingProvider } from './forwarding-provider.js';
import { observeKmsCall, type GeneratedDataKey, type KeyObserver, type KeyProvider } from './key-provider.js';
import { startPurgeTimer } from './purge-timer.js';
import { ShreddableKeyProvider } from './shreddable-provider.js';

export interface BranchKeyOptions {
  /**
   * How new data keys are made. "per-workflow" (default): one KMS data key per workflow scope
   * (format v1). "branch": derived from a branch key per namespace (format v2), so KMS is called
   * once per namespace per `branchKeyMaxAgeMs`, not once per workflow. Both read either format.
   */
  keyHierarchy?: KeyHierarchy;
  /** How long one branch key makes new data keys for a namespace before a new one is made. Default 1 h. */
  branchKeyMaxAgeMs?: number;
  /** When KMS is unavailable, keep deriving from a branch key up to this long past its age. Default 15 min. */
  staleGraceMs?: number;
  /** How long an unwrapped branch key stays cached for opening payloads. Default 1 h. */
  decryptMaxAgeMs?: number;
  /** Namespaces whose branch keys stay cached for sealing. Default 1,000. */
  maxEntries?: number;
  /** Unwrapped branch keys kept for opening (one per writer process, namespace and hour). Default 10,000. */
  maxDecryptEntries?: number;
  /** Told about every call that reaches the KEK provider (KMS): branch keys and per-workflow data keys alike. */
  observer?: KeyObserver;
  clock?: () => number;
  /** Salt source; only tests and known-answer vectors replace it. */
  random?: (n: number) => Uint8Array;
}

interface BranchKeyEntry {
  readonly keyId: string;
  readonly key: Uint8Array;
  readonly wrapped: Uint8Array;
  readonly created: number;
  /** Set when the entry leaves its cache and the key is wiped: a caller that awaited it goes round again. */
  wiped: boolean;
}

const DEFAULTS = { branchKeyMaxAgeMs: 60 * 60 * 1000, staleGraceMs: 15 * 60 * 1000, decryptMaxAgeMs: 60 * 60 * 1000, maxEntries: 1000, maxDecryptEntries: 10_000 } as const;

/**
 * The branch-key layer over a KEK provider (LocalKeyring, AwsKmsKeyring, usually behind
 * ResilientProvider). With keyHierarchy "branch", `generateDataKey(scope)` takes the namespace's
 * branch key (one KMS GenerateDataKey per namespace per branchKeyMaxAgeMs, concurrent first uses
 * sharing it), draws a 32-byte salt and derives the workflow's data key locally; its `wrapped` is
 * the wrapped branch key and the salt together, which the format layer writes as a version-2
 * header. `decryptDataKey` reverses it for such a key, unwrapping each distinct branch key once
 * (one KMS Decrypt, cached by KEK id, namespace and wrapped bytes); any other wrapped key (format
 * v1) goes to the KEK provider as it is. So every process reads both formats, whichever it seals.
 *
 * Branch keys are wiped when they leave their caches: expired, evicted or closed; an unref'd timer
 * purges expired ones. The EnvelopeCodec puts this layer in by itself (see withBranchKeys).
 */
export class BranchKeyProvider extends ForwardingProvider {
  readonly keyHierarchy: KeyHierarchy;
  private readonly o: Required<Omit<BranchKeyOptions, 'keyHierarchy' | 'observer'>>;
  private readonly observer: KeyObserver;
  private readonly sealing: LRUCache<string, BranchKeyEntry>;
  private readonly opening: LRUCache<string, BranchKeyEntry>;
  private readonly inflight = new Map<string, Promise<BranchKeyEntry>>();
  private readonly purgeTimer: NodeJS.Timeout;

  constructor(inner: KeyProvider, options: BranchKeyOptions = {}) {
    super(inner);
    const hierarchy = options.keyHierarchy ?? 'per-workflow';
    if (!isKeyHierarchy(hierarchy)) throw new InvalidConfigError(`"keyHierarchy" expected "per-workflow" or "branch", got ${JSON.stringify(hierarchy)}`);
    if (hierarchy === 'branch' && inner.wrapsBranchKeys !== true) {
      throw new InvalidConfigError(
        `"keyHierarchy" "branch" needs a KEK provider that wraps branch keys (LocalKeyring, AwsKmsKeyring, or a wrapper passing on "wrapsBranchKeys"); ${JSON.stringify(inner.name)} does not. A ShreddableKeyProvider must be the outermost layer.`,
      );
    }
    this.keyHierarchy = hierarchy;
    this.o = { ...validate(options), clock: options.clock ?? Date.now, random: options.random ?? randomBytes };
    this.observer = options.observer ?? {};
    const clock = { perf: { now: () => this.o.clock() }, ttlAutopurge: false, ttlResolution: 0 };
    const wipe = (entry: BranchKeyEntry) => {
      entry.wiped = true;
      entry.key.fill(0);
    };
    this.sealing = new LRUCache({ max: this.o.maxEntries, ttl: this.o.branchKeyMaxAgeMs + this.o.staleGraceMs, ...clock, dispose: wipe });
    this.opening = new LRUCache({ max: this.o.maxDecryptEntries, ttl: this.o.decryptMaxAgeMs, ...clock, dispose: wipe });
    this.purgeTimer = startPurgeTimer(this, Math.min(this.o.branchKeyMaxAgeMs + this.o.staleGraceMs, this.o.decryptMaxAgeMs));
  }

  override async generateDataKey(scope: Scope): Promise<GeneratedDataKey> {
    // A branch scope from a layer above (another BranchKeyProvider) is the KEK provider's business.
    if (this.keyHierarchy === 'per-workflow' || isBranchKeyScope(scope)) return this.kms('generate', () => this.inner.generateDataKey(scope));
    const dekSalt = Uint8Array.from(this.o.random(DEK_SALT_BYTES));
    for (let attempt = 0; attempt < 3; attempt++) {
      const bk = await this.branchKeyForSealing(scope.namespace);
      // Synchronous from here: the entry cannot be wiped between the check and the derivation.
      if (bk.wiped) continue;
      return { plaintext: deriveBranchDataKey(bk.key, dekSalt, scope), wrapped: packBranchWrapped(bk.wrapped, dekSalt), keyId: bk.keyId };
    }
    throw new KmsUnavailableError(`the branch key for namespace ${JSON.stringify(scope.namespace)} left the cache repeatedly before use; retry`);
  }

  override async decryptDataKey(keyId: string, wrapped: Uint8Array, scope: Scope): Promise<Uint8Array> {
    const pair = isBranchKeyScope(scope) ? undefined : unpackBranchWrapped(wrapped);
    if (pair === undefined) return this.kms('decrypt', () => this.inner.decryptDataKey(keyId, wrapped, scope));
    if (this.inner.wrapsBranchKeys !== true) throw new UnsupportedFormatError(`a version-2 payload needs a KEK provider that unwraps branch keys; ${JSON.stringify(this.inner.name)} does not`);
    const wrappedBranchKey = Uint8Array.from(pair.wrappedBranchKey);
    for (let attempt = 0; attempt < 3; attempt++) {
      const bk = await this.branchKeyForOpening(keyId, scope.namespace, wrappedBranchKey);
      if (bk.wiped) continue;
      return deriveBranchDataKey(bk.key, pair.dekSalt, scope);
    }
    throw new KmsUnavailableError(`the branch key of ${JSON.stringify(keyId)} for namespace ${JSON.stringify(scope.namespace)} left the cache repeatedly before use; retry`);
  }

  /** Drop and wipe every expired branch key now (a timer does this every minute). */
  purgeExpired(): void {
    this.sealing.purgeStale();
    this.opening.purgeStale();
  }

  stats(): { sealingEntries: number; openingEntries: number } {
    return { sealingEntries: this.sealing.size, openingEntries: this.opening.size };
  }

  /** Wipe every branch key and stop the purge timer, leaving the KEK provider open (the codec's close()). */
  wipe(): void {
    clearInterval(this.purgeTimer);
    this.sealing.clear();
    this.opening.clear();
  }

  /** wipe(), then close the KEK provider. */
  override async close(): Promise<void> {
    this.wipe();
    await this.inner.close?.();
  }

  private async branchKeyForSealing(namespace: string): Promise<BranchKeyEntry> {
    const cached = this.sealing.get(namespace);
    if (cached !== undefined && this.o.clock() - cached.created < this.o.branchKeyMaxAgeMs && cached.keyId === this.inner.primaryKeyId()) return cached;
    try {
      return await this.coalesce(`seal\0${namespace}`, () => this.newBranchKey(namespace));
    } catch (err) {
      // KMS is down: a branch key past its age, within the grace period, keeps new workflows going.
      if (cached !== undefined && !cached.wiped && isEnvelopeError(err) && err.retryable && this.o.clock() - cached.created < this.o.branchKeyMaxAgeMs + this.o.staleGraceMs) return cached;
      throw err;
    }
  }

  private async newBranchKey(namespace: string): Promise<BranchKeyEntry> {
    const scope = branchKeyScope(namespace);
    const dk = await this.kms('generate', () => this.inner.generateDataKey(scope));
    try {
      if (dk.plaintext.length !== BRANCH_KEY_BYTES) throw new TamperedCiphertextError(`branch key from ${JSON.stringify(dk.keyId)} expected ${BRANCH_KEY_BYTES} bytes, got ${dk.plaintext.length}`);
      const entry: BranchKeyEntry = { keyId: dk.keyId, key: Uint8Array.from(dk.plaintext), wrapped: Uint8Array.from(dk.wrapped), created: this.o.clock(), wiped: false };
      this.sealing.set(namespace, entry);
      // This process opens its own payloads without asking KMS for the key it made.
      this.opening.set(openingId(entry.keyId, namespace, entry.wrapped), { ...entry, key: Uint8Array.from(entry.key) });
      return entry;
    } finally {
      dk.plaintext.fill(0);
    }
  }

  private async branchKeyForOpening(keyId: string, namespace: string, wrappedBranchKey: Uint8Array): Promise<BranchKeyEntry> {
    const id = openingId(keyId, namespace, wrappedBranchKey);
    const cached = this.opening.get(id);
    if (cached !== undefined) return cached;
    return this.coalesce(`open\0${id}`, async () => {
      const key = await this.kms('decrypt', () => this.inner.decryptDataKey(keyId, wrappedBranchKey, branchKeyScope(namespace)));
      try {
        if (key.length !== BRANCH_KEY_BYTES) throw new TamperedCiphertextError(`wrapped branch key expected ${BRANCH_KEY_BYTES} bytes inside, got ${key.length}`);
        const entry: BranchKeyEntry = { keyId, key: Uint8Array.from(key), wrapped: wrappedBranchKey, created: this.o.clock(), wiped: false };
        this.opening.set(id, entry);
        return entry;
      } finally {
        key.fill(0);
      }
    });
  }

  private async coalesce(id: string, make: () => Promise<BranchKeyEntry>): Promise<BranchKeyEntry> {
    const pending = this.inflight.get(id);
    if (pending !== undefined) return pending;
    const p = make().finally(() => this.inflight.delete(id));
    this.inflight.set(id, p);
    return p;
  }

  /** A call to the KEK provider, told to the observer as a KMS call. */
  private kms<T>(op: 'generate' | 'decrypt', call: () => Promise<T>): Promise<T> {
    return observeKmsCall(this.observer, op, this.inner.name, call);
  }
}

/**
 * The branch-key layer in its place: directly over the KEK provider, and under a
 * ShreddableKeyProvider, whose per-workflow secret must mix into the per-workflow data key (above
 * the branch key, never into the branch key). The EnvelopeCodec calls this for each provider it is
 * given, so every codec reads format v2, and seals it with keyHierarchy "branch".
 */
export function withBranchKeys(provider: KeyProvider, options: BranchKeyOptions): { provider: KeyProvider; layer: BranchKeyProvider } {
  if (provider instanceof ShreddableKeyProvider) {
    const inner = withBranchKeys(provider.inner, options);
    return { provider: new ShreddableKeyProvider(inner.provider, provider.store), layer: inner.layer };
  }
  const layer = new BranchKeyProvider(provider, options);
  return { provider: layer, layer };
}

// A plain string, as DataKeyCache's ids: only branch keys that unwrapped are ever stored.
function openingId(keyId: string, namespace: string, wrapped: Uint8Array): string {
  return `${keyId}\0${namespace.length}:${namespace}\0${Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength).toString('base64')}`;
}

function validate(options: BranchKeyOptions): Required<Pick<BranchKeyOptions, keyof typeof DEFAULTS>> {
  const out: Record<string, number> = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
    const v = options[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < (key === 'staleGraceMs' ? 0 : 1)) {
      throw new InvalidConfigError(`branch keys "${key}" expected a positive whole number, got ${JSON.stringify(v)}`);
    }
    out[key] = v;
  }
  return out as Required<Pick<BranchKeyOptions, keyof typeof DEFAULTS>>;
}
