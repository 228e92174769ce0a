import { KmsAccessDeniedError, KmsUnavailableError, TamperedCiphertextError, isEnvelopeError, type EnvelopeError } from '../primitives/errors.js';

/**
 * AWS KMS and network failures as our typed errors: the one mapping, used by the runtime keyring
 * (keys/aws-kms-keyring.ts) and the CLI's key checks. Messages carry the operation and key id,
 * never key bytes.
 *
 *   refused for good (KMS_ACCESS_DENIED): access denied, disabled or missing key, wrong key usage,
 *     bad credentials. The codec server leaves such payloads sealed; workers fail the task for good.
 *   the wrapped key does not open (TAMPERED_CIPHERTEXT): altered, or wrapped for another scope/key.
 *   worth retrying now (KMS_UNAVAILABLE, transient): throttling, KMS's own 5xx, timeouts, network
 *     resets. ResilientProvider retries these, with backoff, a bounded number of times.
 *   anything else (KMS_UNAVAILABLE, not transient): still retryable for Temporal, since a workflow
 *     task retried later loses nothing while a permanent error would fail the workflow, but not
 *     retried in-process: KMS did not say a retry would help.
 */

const TRANSIENT = new Set([
  'ThrottlingException',
  'LimitExceededException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'KeyUnavailableException',
  'ServiceUnavailableException',
  'InternalFailure',
  'RequestTimeout',
  'RequestTimeoutException',
]);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ECONNABORTED']);
const DENIED = new Set([
  'AccessDeniedException',
  'DisabledException',
  'KMSInvalidStateException',
  'NotFoundException',
  'InvalidKeyUsageException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
]);

export function mapKmsError(err: unknown, op: string, keyId: string, timeoutMs?: number): EnvelopeError {
  if (isEnvelopeError(err)) return err;
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; cause?: { code?: string } };
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const code = e.code ?? e.cause?.code;
  const where = `KMS ${op} with ${keyId}`;
  if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException') {
    return new TamperedCiphertextError(`${where} refused the wrapped data key: altered, or wrapped for another scope or key`, { cause: err });
  }
  if (name === 'NotFoundException') return new KmsAccessDeniedError(`${where} was refused: the key was not found (${name})`, { cause: err });
  if (DENIED.has(name)) return new KmsAccessDeniedError(`${where} was refused: ${name}`, { cause: err });
  // The SDK names a reset connection TimeoutError too; say which it was.
  if (code !== undefined && NETWORK_CODES.has(code)) return new KmsUnavailableError(`${where} failed and may succeed later: ${code}`, { cause: err });
  if (name === 'TimeoutError' || name === 'AbortError') return new KmsUnavailableError(`${where} timed out after ${timeoutMs ?? '?'} ms`, { cause: err });
  if (TRANSIENT.has(name) || (status !== undefined && status >= 500)) {
    return new KmsUnavailableError(`${where} failed and may succeed later: ${code ?? name}${status ? ` (HTTP ${status})` : ''}`, { cause: err });
  }
  return new KmsUnavailableError(`${where} failed: ${name}${status ? ` (HTTP ${status})` : ''}`, { cause: err, transient: false });
}

/** Whether to retry a failed KMS call at once: only failures a retry can cure (see above). */
export function worthRetryingNow(err: unknown): boolean {
  return isEnvelopeError(err) && err.retryable && (err as Partial<KmsUnavailableError>).transient !== false;
}
