import { createRequire } from 'node:module';
import { defaultPayloadConverter } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { KmsUnavailableError, UnknownKeyError, isEnvelopeError } from '../primitives/errors.js';
import type * as FailureConverterModule from '../codecs/failure-converter.cjs';

const { failureConverter } = createRequire(import.meta.url)('../codecs/failure-converter.cjs') as typeof FailureConverterModule;

/** An error as a second copy of the package makes it: another class, the same Symbol.for mark. */
function fromAnotherCopy(code: string, message: string): Error {
  class KmsUnavailableError extends Error {
    readonly code = code;
    readonly retryable = true;
  }
  Object.defineProperty(KmsUnavailableError.prototype, Symbol.for('temporal-envelope.error'), { value: true });
  return new KmsUnavailableError(message);
}

/** Shaped like ours, named like ours, but not ours. */
function lookalike(): Error {
  return Object.assign(new Error('mailbox ann@patient.example rejected'), { name: 'KmsUnavailableError', code: 'KMS_UNAVAILABLE', retryable: true });
}

describe('recognising our errors', () => {
  it('by the mark: ours and another copy of the package count, lookalikes do not', () => {
    expect(isEnvelopeError(new UnknownKeyError('no key local-9'))).toBe(true);
    expect(isEnvelopeError(fromAnotherCopy('KMS_UNAVAILABLE', 'down'))).toBe(true);
    expect(isEnvelopeError(lookalike())).toBe(false);
    for (const v of [undefined, null, 'KMS_UNAVAILABLE', { code: 'KMS_UNAVAILABLE', retryable: true }]) expect(isEnvelopeError(v)).toBe(false);
    expect(new KmsUnavailableError('x')).toMatchObject({ name: 'KmsUnavailableError', code: 'KMS_UNAVAILABLE', retryable: true });
  });

  it('the failure converter uses the same mark: another copy\'s error stays readable, a lookalike is sealed', () => {
    const other = fromAnotherCopy('KMS_UNAVAILABLE', 'KMS Decrypt with alias/k failed and may succeed later: ECONNRESET');
    expect(failureConverter.errorToFailure(other, defaultPayloadConverter).message).toBe(other.message);
    const fake = failureConverter.errorToFailure(lookalike(), defaultPayloadConverter);
    expect(fake.message).toBe('Encoded failure');
    expect(JSON.stringify(fake)).not.toContain('ann@patient.example');
    // A marked error with a code this copy does not know is sealed too: sealing is the safe default.
    expect(failureConverter.errorToFailure(fromAnotherCopy('SOME_NEW_CODE', 'x'), defaultPayloadConverter).message).toBe('Encoded failure');
  });
});
