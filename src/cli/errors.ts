import type { ExitCode } from './exit-codes.js';

/**
 * Errors only the CLI raises. Library failures stay the typed errors of codecs/errors.ts; these add
 * the two kinds a command line has on its own: the user asked wrongly, or a refusal/failure that is
 * not about keys (e.g. "still in use", Temporal unreachable).
 */
export abstract class CliError extends Error {
  abstract readonly code: string;
  abstract readonly exitCode: ExitCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

/** The command line is wrong: a missing or malformed argument, conflicting options. Exit 2. */
export class UsageError extends CliError {
  readonly code = 'USAGE';
  readonly exitCode = 2 as const;
}

/** The operation was refused or failed for a reason the message explains. Exit 1. */
export class OperationError extends CliError {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  readonly exitCode = 1 as const;
}
