import { isEnvelopeError, type EnvelopeErrorCode } from '../../primitives/errors.js';
import { CliError, type CliErrorCode } from './errors.js';

/**
 * The CLI's exit codes. Scripts branch on them, so they are part of the public interface: documented
 * in docs/key-management.md and never renumbered.
 */
export const EXIT = {
  /** The command did what it was asked. */
  OK: 0,
  /** The operation failed or was refused (file missing, retire refused without --force, Temporal unreachable). */
  FAILED: 1,
  /** Bad arguments or configuration: fix the command line and run it again. */
  USAGE: 2,
  /** A key or crypto error: unknown or retired key, tampered payload, wrong scope, shredded key, KMS access denied. */
  KEY: 3,
  /** KMS, the shred store (or a key limit) is temporarily unavailable: the same command may succeed later. */
  RETRYABLE: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * Every error code, the library's and the CLI's, and its exit code: a Record over both unions, so
 * a code added to either fails to compile until it has one (as src/server/http-errors.ts does for
 * HTTP statuses).
 */
const EXIT_FOR: Record<EnvelopeErrorCode | CliErrorCode, ExitCode> = {
  UNKNOWN_KEY: EXIT.KEY,
  TAMPERED_CIPHERTEXT: EXIT.KEY,
  SCOPE_MISMATCH: EXIT.KEY,
  UNSUPPORTED_FORMAT: EXIT.KEY,
  MALFORMED_PAYLOAD: EXIT.KEY,
  PLAINTEXT_REJECTED: EXIT.KEY,
  KMS_ACCESS_DENIED: EXIT.KEY,
  KEY_RETIRED: EXIT.KEY,
  KEY_SHREDDED: EXIT.KEY,
  KMS_UNAVAILABLE: EXIT.RETRYABLE,
  KEY_LIMIT_EXCEEDED: EXIT.RETRYABLE,
  INVALID_CONFIG: EXIT.USAGE,
  KEYRING_ERROR: EXIT.FAILED,
  STORE_UNAVAILABLE: EXIT.RETRYABLE,
  USAGE: EXIT.USAGE,
  KEY_MAY_BE_IN_USE: EXIT.FAILED,
  TEMPORAL_UNAVAILABLE: EXIT.FAILED,
  TEMPORAL_ACCESS_DENIED: EXIT.FAILED,
  NAMESPACE_NOT_FOUND: EXIT.FAILED,
  ABORTED: EXIT.FAILED,
  RESEAL_INCOMPLETE: EXIT.FAILED,
};

/** The one place an error becomes an exit code. Anything that is not ours is a failure (1). */
export function exitCodeFor(err: unknown): ExitCode {
  // `??`: an error from a newer copy of the package may carry a code this copy does not know.
  if (err instanceof CliError || isEnvelopeError(err)) return EXIT_FOR[err.code] ?? EXIT.FAILED;
  return EXIT.FAILED;
}

/** A stable code for `--json` error output. */
export function errorCodeFor(err: unknown): string {
  if (err instanceof CliError || isEnvelopeError(err)) return err.code;
  return 'INTERNAL';
}
