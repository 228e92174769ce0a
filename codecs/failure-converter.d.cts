import type { FailureConverter, PayloadConverter, ProtoFailure } from '@temporalio/common';

/** Seals failure messages and stack traces (encodeCommonAttributes), except for the codec's own key errors. */
export declare class EnvelopeFailureConverter implements FailureConverter {
  errorToFailure(err: unknown, payloadConverter: PayloadConverter): ProtoFailure;
  failureToError(failure: ProtoFailure, payloadConverter: PayloadConverter): Error;
}
export declare const failureConverter: EnvelopeFailureConverter;
/** The error codes treated as the codec's own (kept equal to primitives/errors.ts by a test). */
export declare const ENVELOPE_CODES: ReadonlySet<string>;
