import { createRequire } from 'node:module';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { KmsUnavailableError, UnknownKeyError, type EnvelopeErrorCode } from '../primitives/errors.js';
import type * as FailureConverterModule from '../codecs/failure-converter.cjs';

// Loaded the way the SDK loads it: require() of the path given as failureConverterPath.
const { failureConverter, ENVELOPE_CODES } = createRequire(import.meta.url)('../codecs/failure-converter.cjs') as typeof FailureConverterModule;

describe('EnvelopeFailureConverter', () => {
  it('moves an application failure message with PII into encodedAttributes (sealed by the codec)', () => {
    const f = failureConverter.errorToFailure(ApplicationFailure.nonRetryable('mailbox ann@patient.example rejected'), defaultPayloadConverter);
    expect(f.message).toBe('Encoded failure');
    expect(f.encodedAttributes).toBeDefined();
    expect(JSON.stringify(f)).not.toContain('ann@patient.example');
    const back = failureConverter.failureToError(f, defaultPayloadConverter);
    expect(back.message).toBe('mailbox ann@patient.example rejected');
  });

  it('leaves the codec\'s own errors readable, so reporting them needs no key (KMS may be down)', () => {
    for (const err of [new KmsUnavailableError('KMS Decrypt with arn:…:key/k1 failed and may succeed later: ECONNRESET'), new UnknownKeyError('no key local-9')]) {
      const f = failureConverter.errorToFailure(err, defaultPayloadConverter);
      expect(f.message).toBe(err.message);
      expect(f.encodedAttributes ?? undefined).toBeUndefined();
    }
  });

  it('knows every error code the codec has (the .cjs repeats the list; this keeps them equal)', () => {
    // A Record over the union: typecheck fails if a code is added to codecs/errors.ts and not here.
    const all: Record<EnvelopeErrorCode, true> = {
      UNKNOWN_KEY: true, TAMPERED_CIPHERTEXT: true, SCOPE_MISMATCH: true, UNSUPPORTED_FORMAT: true, MALFORMED_PAYLOAD: true,
      PLAINTEXT_REJECTED: true, KMS_UNAVAILABLE: true, KMS_ACCESS_DENIED: true, KEY_RETIRED: true, KEY_SHREDDED: true,
      KEY_LIMIT_EXCEEDED: true, INVALID_CONFIG: true, KEYRING_ERROR: true, STORE_UNAVAILABLE: true,
    };
    expect([...ENVELOPE_CODES].sort()).toEqual(Object.keys(all).sort());
  });
});
