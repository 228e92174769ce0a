import { isEnvelopeError } from '../../primitives/errors.js';
import { CliError } from './errors.js';

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
  /** KMS (or a key limit) is temporarily unavailable: the same command may succeed later. */
  RETRYABLE: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

const KEY_CODES = new Set([
  'UNKNOWN_KEY',
  'TAMPERED_CIPHERTEXT',
  'SCOPE_MISMATCH',
  'UNSUPPORTED_FORMAT',
  'MALFORMED_PAYLOAD',
  'PLAINTEXT_REJECTED',
  'KMS_ACCESS_DENIED',
  'KEY_RETIRED',
  'KEY_SHREDDED',
]);

/** The one place an error becomes an exit code. */
export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof CliError) return err.exitCode;
  if (isEnvelopeError(err)) {
    if (err.retryable) return EXIT.RETRYABLE;
    if (err.code === 'INVALID_CONFIG') return EXIT.USAGE;
    if (KEY_CODES.has(err.code)) return EXIT.KEY;
    return EXIT.FAILED;
  }
  return EXIT.FAILED;
}

/** A stable code for `--json` error output. */
export function errorCodeFor(err: unknown): string {
  if (err instanceof CliError || isEnvelopeError(err)) return err.code;
  return 'INTERNAL';
}
