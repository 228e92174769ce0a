// temporal-envelope's failure converter, for `dataConverter.failureConverterPath` in workers and clients.
//
// Failure messages and stack traces are plaintext in history unless they move into
// `encodedAttributes`, which then passes the codec: so this seals them (encodeCommonAttributes).
// One exception: a failure caused by the codec itself (KMS down, unknown key, ...). The worker reports
// such a failure with a codec call of its own, and if that call needs KMS too, the SDK cannot report
// the workflow task failure at all and stops the worker. Our errors' messages are written to carry
// no plaintext and no key bytes (only operations, key ids and codes), so they stay readable and need
// no key: the workflow task fails, Temporal retries it, the worker stays up.
//
// CommonJS and dependency-free apart from @temporalio/common: the SDK require()s this file and also
// bundles it into the workflow sandbox.
'use strict';
const { DefaultFailureConverter } = require('@temporalio/common');

// The mark primitives/errors.ts puts on every error of ours (Symbol.for: the same symbol for every
// copy of the package in the process), and its codes, repeated because this file may not import
// TypeScript; test/failure-converter.test.ts fails if the two drift apart.
const ENVELOPE_ERROR = Symbol.for('temporal-envelope.error');
const ENVELOPE_CODES = new Set([
  'UNKNOWN_KEY', 'TAMPERED_CIPHERTEXT', 'SCOPE_MISMATCH', 'UNSUPPORTED_FORMAT', 'MALFORMED_PAYLOAD', 'PLAINTEXT_REJECTED',
  'KMS_UNAVAILABLE', 'KMS_ACCESS_DENIED', 'KEY_RETIRED', 'KEY_SHREDDED', 'KEY_LIMIT_EXCEEDED', 'INVALID_CONFIG', 'KEYRING_ERROR',
  'STORE_UNAVAILABLE',
]);

/**
 * Our typed errors, by their mark. A marked error with a code this copy does not know (a newer copy
 * of the package) is sealed like any other failure: sealing is the safe default.
 */
function isEnvelopeError(err) {
  return typeof err === 'object' && err !== null && err[ENVELOPE_ERROR] === true && ENVELOPE_CODES.has(err.code);
}

class EnvelopeFailureConverter {
  constructor() {
    this.sealed = new DefaultFailureConverter({ encodeCommonAttributes: true });
    this.plain = new DefaultFailureConverter({ encodeCommonAttributes: false });
  }
  errorToFailure(err, payloadConverter, context) {
    return (isEnvelopeError(err) ? this.plain : this.sealed).errorToFailure(err, payloadConverter, context);
  }
  failureToError(failure, payloadConverter, context) {
    return this.sealed.failureToError(failure, payloadConverter, context);
  }
}

exports.ENVELOPE_CODES = ENVELOPE_CODES;
exports.EnvelopeFailureConverter = EnvelopeFailureConverter;
exports.failureConverter = new EnvelopeFailureConverter();
