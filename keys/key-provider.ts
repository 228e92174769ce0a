import type { Scope } from '../primitives/scope.js';

/** A fresh data key: plaintext for this process only, and the same key wrapped by a KEK for the payload. */
export interface GeneratedDataKey {
  /** 32 bytes. The caller owns it and wipes it when done. */
  readonly plaintext: Uint8Array;
  /** Opaque bytes only `decryptDataKey` of a provider holding `keyId` can open. */
  readonly wrapped: Uint8Array;
  /** The KEK (version) that wrapped it; written into `encryption-key-id`. */
  readonly keyId: string;
}

export type KekState = 'primary' | 'decrypt-only' | 'retired';

export interface KekInfo {
  readonly id: string;
  readonly provider: string;
  readonly state: KekState;
  readonly created?: string | undefined;
  readonly description?: string | undefined;
}

/**
 * A key-encryption-key provider (keyring). Implementations wrap and unwrap data keys, binding each
 * wrap to the scope (as AAD or KMS encryption context), so a wrapped key copied to another scope
 * will not unwrap.
 *
 * Errors: UnknownKeyError for a key id this provider does not hold, TamperedCiphertextError for a
 * wrapped key that does not authenticate, KmsUnavailableError (retryable) for outages and throttling,
 * KmsAccessDeniedError / KeyRetiredError / KeyShreddedError for permanent refusals.
 */
export interface KeyProvider {
  /** Short provider name for logs and `keys list`: "local", "aws-kms". */
  readonly name: string;
  /** The key id new data keys are wrapped with right now (changes on rotation). */
  primaryKeyId(): string;
  /**
   * True when the provider binds a branch key's scope (primitives/branch-key.ts, `isBranchKeyScope`)
   * to a wrap context of its own, apart from every data key's: LocalKeyring and AwsKmsKeyring do,
   * and wrappers (ForwardingProvider) pass it on. Only such providers are used under branch keys
   * (format v2); one that would wrap a branch key like a namespace's data key is refused.
   */
  readonly wrapsBranchKeys?: boolean | undefined;
  /** True if this provider can be asked to unwrap data keys wrapped by `keyId`. */
  handles(keyId: string): boolean;
  generateDataKey(scope: Scope): Promise<GeneratedDataKey>;
  decryptDataKey(keyId: string, wrapped: Uint8Array, scope: Scope): Promise<Uint8Array>;
  listKeys(): Promise<readonly KekInfo[]>;
  /** Resolves when the provider can reach its keys (readiness probe). Rejects with a typed error otherwise. */
  checkReady(): Promise<void>;
  /** Stop timers / watchers. */
  close?(): Promise<void> | void;
}

/** Hooks for metrics; the codec server wires these to prom-client. */
export interface KeyObserver {
  onKmsCall?(op: 'generate' | 'decrypt', provider: string, outcome: 'ok' | 'error', seconds: number): void;
  onCacheHit?(cache: 'encrypt' | 'decrypt'): void;
  onCacheMiss?(cache: 'encrypt' | 'decrypt'): void;
}

/** Run one call to a KEK provider, timing it and telling the observer as a KMS call with its outcome. */
export async function observeKmsCall<T>(observer: KeyObserver, op: 'generate' | 'decrypt', provider: string, call: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    const out = await call();
    observer.onKmsCall?.(op, provider, 'ok', (performance.now() - start) / 1000);
    return out;
  } catch (err) {
    observer.onKmsCall?.(op, provider, 'error', (performance.now() - start) / 1000);
    throw err;
  }
}
