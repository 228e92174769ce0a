/**
 * Errors only the CLI raises. Library failures stay the typed errors of primitives/errors.ts; these
 * add the two kinds a command line has on its own: the user asked wrongly, or a refusal/failure that
 * is not about keys (e.g. "still in use", Temporal unreachable). Each code's exit status is in
 * ./exit-codes.ts.
 */
export type CliErrorCode = 'USAGE' | OperationErrorCode;

/** Refusals and failures that are not about keys or the command line. */
export type OperationErrorCode = 'KEY_MAY_BE_IN_USE' | 'TEMPORAL_UNAVAILABLE' | 'TEMPORAL_ACCESS_DENIED' | 'NAMESPACE_NOT_FOUND' | 'ABORTED' | 'RESEAL_INCOMPLETE';

export abstract class CliError extends Error {
  abstract readonly code: CliErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

/** The command line is wrong: a missing or malformed argument, conflicting options. */
export class UsageError extends CliError {
  readonly code = 'USAGE';
}

/** The operation was refused or failed for a reason the message explains. */
export class OperationError extends CliError {
  constructor(
    readonly code: OperationErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
