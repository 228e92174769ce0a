/**
 * Every failure the codec, the key providers and the server can report, each a class with a stable
 * `code`. The codes are mapped once at each edge: HTTP statuses in src/server/http-errors.ts, exit
 * codes in src/cli/exit-codes.ts. Workers see `retryable` to tell a KMS or shred-store outage
 * (Temporal should retry the task) from a payload that will never open.
 *
 * Messages name what was wrong and never carry plaintext or key bytes.
 */
export type EnvelopeErrorCode =
  | 'UNKNOWN_KEY'
  | 'TAMPERED_CIPHERTEXT'
  | 'SCOPE_MISMATCH'
  | 'UNSUPPORTED_FORMAT'
  | 'MALFORMED_PAYLOAD'
  | 'PLAINTEXT_REJECTED'
  | 'KMS_UNAVAILABLE'
  | 'KMS_ACCESS_DENIED'
  | 'KEY_RETIRED'
  | 'KEY_SHREDDED'
  | 'KEY_LIMIT_EXCEEDED'
  | 'INVALID_CONFIG'
  | 'KEYRING_ERROR'
  | 'STORE_UNAVAILABLE';

export interface EnvelopeErrorOptions {
  cause?: unknown;
}

/**
 * Marks our errors. `Symbol.for` names one symbol per process, so an error made by a second copy of
 * this package (two versions in node_modules, or the failure converter's CommonJS file, which cannot
 * import this module) is recognised too, where `instanceof` would miss it. The failure converter
 * (codecs/failure-converter.cjs) spells the same key.
 */
export const ENVELOPE_ERROR = Symbol.for('temporal-envelope.error');

export abstract class EnvelopeError extends Error {
  abstract readonly code: EnvelopeErrorCode;
  /** True when the same call may succeed later (KMS outage, throttling): Temporal should retry. */
  readonly retryable: boolean = false;

  constructor(message: string, options?: EnvelopeErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}
Object.defineProperty(EnvelopeError.prototype, ENVELOPE_ERROR, { value: true });

/** The payload names a key id no configured provider knows. */
export class UnknownKeyError extends EnvelopeError {
  readonly code = 'UNKNOWN_KEY' as const;
}

/** Authentication of the ciphertext (or of the wrapped data key) failed: altered, truncated or the wrong key. */
export class TamperedCiphertextError extends EnvelopeError {
  readonly code = 'TAMPERED_CIPHERTEXT' as const;
}

/** The payload was sealed for another namespace or workflow than the one decoding it. */
export class ScopeMismatchError extends EnvelopeError {
  readonly code = 'SCOPE_MISMATCH' as const;
}

/** A format version, algorithm or compression this build does not read. */
export class UnsupportedFormatError extends EnvelopeError {
  readonly code = 'UNSUPPORTED_FORMAT' as const;
}

/** The payload claims our encoding but its fields are missing or malformed. */
export class MalformedPayloadError extends EnvelopeError {
  readonly code = 'MALFORMED_PAYLOAD' as const;
}

/** `requireEncryption` is on and a payload arrived unencrypted. */
export class PlaintextRejectedError extends EnvelopeError {
  readonly code = 'PLAINTEXT_REJECTED' as const;
}

/** KMS is slow, throttling or down. Retry later; nothing was lost. */
export class KmsUnavailableError extends EnvelopeError {
  readonly code = 'KMS_UNAVAILABLE' as const;
  override readonly retryable = true;
  /**
   * Whether retrying the same call at once may help (throttling, KMS's own 5xx, timeouts, network
   * resets). False for a failure KMS did not explain: Temporal should still retry the task later,
   * but an immediate retry would only add requests. Default true.
   */
  readonly transient: boolean;

  constructor(message: string, options?: EnvelopeErrorOptions & { transient?: boolean }) {
    super(message, options);
    this.transient = options?.transient ?? true;
  }
}

/** KMS refused the operation for good (access denied, disabled key, invalid ciphertext for that key). */
export class KmsAccessDeniedError extends EnvelopeError {
  readonly code = 'KMS_ACCESS_DENIED' as const;
}

/** The key-encryption key exists but was retired: it no longer decrypts. */
export class KeyRetiredError extends EnvelopeError {
  readonly code = 'KEY_RETIRED' as const;
}

/** The scope's key material was destroyed on purpose (crypto-shredding). */
export class KeyShreddedError extends EnvelopeError {
  readonly code = 'KEY_SHREDDED' as const;
}

/** A data key would be used past its safety limits (GCM message count) and no new one could be made. */
export class KeyLimitExceededError extends EnvelopeError {
  readonly code = 'KEY_LIMIT_EXCEEDED' as const;
  override readonly retryable = true;
}

/** Configuration failed validation; the message names the field. */
export class InvalidConfigError extends EnvelopeError {
  readonly code = 'INVALID_CONFIG' as const;
}

/** The keyring file is unreadable, corrupt or has unsafe permissions. */
export class KeyringError extends EnvelopeError {
  readonly code = 'KEYRING_ERROR' as const;
}

/**
 * The shred store (the database holding crypto-shredding's per-workflow secrets) is unreachable,
 * throttling or timing out. Retry later; nothing was lost or created twice. Its own code rather than
 * KMS_UNAVAILABLE: the cure is on another service, and an operator paged for it should look there.
 */
export class StoreUnavailableError extends EnvelopeError {
  readonly code = 'STORE_UNAVAILABLE' as const;
  override readonly retryable = true;
}

/**
 * Validation issues (zod's shape, without depending on zod) as one line that names every bad
 * field: `keys.0.material: expected base64 of 32 bytes; format: …`.
 */
export function describeIssues(issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[]): string {
  return issues.map((i) => `${i.path.length > 0 ? i.path.map(String).join('.') : '(top level)'}: ${i.message}`).join('; ');
}

/** The one way to recognise our errors, also across copies of the package: by the ENVELOPE_ERROR mark. */
export function isEnvelopeError(err: unknown): err is EnvelopeError {
  return typeof err === 'object' && err !== null && (err as { [ENVELOPE_ERROR]?: unknown })[ENVELOPE_ERROR] === true;
}
