import { createHash, hkdfSync } from 'node:crypto';
import { isBranchKeyScope } from '../primitives/branch-key.js';
import { lengthPrefixed, utf8 } from '../primitives/bytes.js';
import { InvalidConfigError } from '../primitives/errors.js';
import { scopeFields, type Scope } from '../primitives/scope.js';
import type { GeneratedDataKey, KekInfo, KeyProvider } from './key-provider.js';
import { scopeFromEvent, type ScopeSecretStore } from './shred-store.js';

/**
 * Crypto-shredding on top of any KEK provider.
 *
 * A data key that exists only wrapped inside Temporal history cannot be deleted: history is
 * immutable until retention, and the KEK that unwraps it serves every other workflow too. So the
 * key that actually seals a payload is derived from two halves:
 *
 *   sealing key = HKDF-SHA256(ikm = DEK from the inner provider (wrapped copy in the payload),
 *                             salt = the scope's secret (only in the ScopeSecretStore),
 *                             info = label ‖ SHA-256(namespace ‖ workflow id))
 *
 * Destroying the scope's secret (`keys shred`) makes every payload of that workflow unreadable, even
 * to someone holding the KEK and the whole history, while other workflows are untouched.
 *
 * Payloads record this in their key id: "shred:" + the inner KEK id (authenticated, like every
 * header field). Key ids without the prefix are passed to the inner provider unchanged, so payloads
 * sealed before shredding was turned on keep opening (but cannot be shredded).
 */
export const SHRED_KEY_PREFIX = 'shred:';

const INFO_LABEL = utf8.encode('temporal-envelope/v1/shreddable-dek');

export class ShreddableKeyProvider implements KeyProvider {
  readonly name: string;

  constructor(
    readonly inner: KeyProvider,
    readonly store: ScopeSecretStore,
    /** Close the store with the provider: set when the provider opened it (openKeyProviders). */
    private readonly options: { closeStore?: boolean } = {},
  ) {
    this.name = inner.name;
  }

  primaryKeyId(): string {
    return SHRED_KEY_PREFIX + this.inner.primaryKeyId();
  }

  handles(keyId: string): boolean {
    return this.inner.handles(kekIdOf(keyId));
  }

  async generateDataKey(scope: Scope): Promise<GeneratedDataKey> {
    refuseBranchKeys(scope);
    // Secret first: a shredded scope must fail before any KMS call is spent on it.
    const secret = await this.store.getOrCreate(scope);
    const dk = await this.inner.generateDataKey(scope);
    try {
      return { plaintext: derive(dk.plaintext, secret, scope), wrapped: dk.wrapped, keyId: SHRED_KEY_PREFIX + dk.keyId };
    } finally {
      dk.plaintext.fill(0);
      secret.fill(0);
    }
  }

  async decryptDataKey(keyId: string, wrapped: Uint8Array, scope: Scope): Promise<Uint8Array> {
    refuseBranchKeys(scope);
    if (!isShreddableKeyId(keyId)) return this.inner.decryptDataKey(keyId, wrapped, scope);
    const secret = await this.store.get(scope);
    try {
      const dek = await this.inner.decryptDataKey(kekIdOf(keyId), wrapped, scope);
      try {
        return derive(dek, secret, scope);
      } finally {
        dek.fill(0);
      }
    } finally {
      secret.fill(0);
    }
  }

  listKeys(): Promise<readonly KekInfo[]> {
    return this.inner.listKeys();
  }

  checkReady(): Promise<void> {
    return this.inner.checkReady();
  }

  async close(): Promise<void> {
    try {
      await this.inner.close?.();
    } finally {
      if (this.options.closeStore) await this.store.close?.();
    }
  }
}

/**
 * The shred secret belongs in each workflow's data key, above the branch key (format v2), never in
 * the branch key: the branch-key layer goes under this one (keys/branch-key-provider.ts,
 * withBranchKeys), and a branch key's scope reaching here means the layers were stacked the other
 * way round.
 */
function refuseBranchKeys(scope: Scope): void {
  if (isBranchKeyScope(scope)) throw new InvalidConfigError('ShreddableKeyProvider sits under the branch-key layer: it must be the outermost one (EnvelopeCodec and openKeyProviders put it there)');
}

/** The KEK id inside a payload's key id (strips the shreddable marker). */
export function kekIdOf(keyId: string): string {
  return isShreddableKeyId(keyId) ? keyId.slice(SHRED_KEY_PREFIX.length) : keyId;
}

export function isShreddableKeyId(keyId: string): boolean {
  return keyId.startsWith(SHRED_KEY_PREFIX);
}

/**
 * Drop a codec's cached data keys of every scope shredded from now on (by this or another process
 * sharing the store), instead of waiting for the cache's maxAge. Returns a handle to stop watching.
 */
export function forgetShreddedScopes(
  store: ScopeSecretStore,
  cache: { forgetScope(scope: Scope): void },
  intervalMs?: number,
): { close(): void } {
  if (store.watchShreds === undefined) return { close: () => undefined };
  return store.watchShreds((event) => {
    try {
      cache.forgetScope(scopeFromEvent(event));
    } catch {
      // An event with an invalid scope names nothing we could have cached.
    }
  }, intervalMs);
}

function derive(ikm: Uint8Array, salt: Uint8Array, scope: Scope): Uint8Array {
  // HKDF's info is capped at 1024 bytes and a scope may be 2 KiB: bind its hash instead.
  const scopeHash = createHash('sha256')
    .update(lengthPrefixed(scopeFields(scope)))
    .digest();
  const info = lengthPrefixed([INFO_LABEL, scopeHash]);
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, 32));
}
