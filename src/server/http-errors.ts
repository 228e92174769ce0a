import { isEnvelopeError, type EnvelopeErrorCode } from '../../primitives/errors.js';

/** Failures only the HTTP edge has: who is calling and what they sent. */
export type HttpErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'BAD_REQUEST'
  | 'RATE_LIMITED'
  | 'NOT_FOUND'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'TIMEOUT'
  | 'REQUEST_TIMEOUT'
  | 'HEADERS_TOO_LARGE';

export interface HttpErrorDetail {
  /** Sent as Retry-After (seconds). */
  retryAfterSeconds?: number;
  /**
   * For UNAUTHENTICATED: the credential did not prove itself (unknown token, bad signature or
   * MAC, malformed), which is what a guess looks like and what the failed-authentication throttle
   * counts; an authentic credential that has expired or was revoked is not a guess.
   */
  unproven?: boolean;
}

export class HttpError extends Error {
  constructor(
    readonly code: HttpErrorCode,
    message: string,
    readonly detail: HttpErrorDetail = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** A credential that did not prove itself: counted against the caller's address. */
export const unproven = (message: string) => new HttpError('UNAUTHENTICATED', message, { unproven: true });
/** No credential, or an authentic one that no longer counts (expired, revoked, signed out). */
export const unauthenticated = (message: string) => new HttpError('UNAUTHENTICATED', message);
export const forbidden = (message: string) => new HttpError('FORBIDDEN', message);
export const badRequest = (message: string) => new HttpError('BAD_REQUEST', message);

const HTTP_STATUS: Record<HttpErrorCode, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  BAD_REQUEST: 400,
  RATE_LIMITED: 429,
  NOT_FOUND: 404,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  TIMEOUT: 503,
  REQUEST_TIMEOUT: 408,
  HEADERS_TOO_LARGE: 431,
};

/**
 * Codec errors as HTTP statuses: the caller's input is wrong (400/422), a key is not available to
 * this server (403/422), or KMS is down (503, retry). Only here are codes turned into statuses.
 */
const ENVELOPE_STATUS: Record<EnvelopeErrorCode, number> = {
  MALFORMED_PAYLOAD: 400,
  UNSUPPORTED_FORMAT: 422,
  TAMPERED_CIPHERTEXT: 422,
  SCOPE_MISMATCH: 422,
  UNKNOWN_KEY: 422,
  PLAINTEXT_REJECTED: 422,
  KEY_RETIRED: 422,
  KEY_SHREDDED: 422,
  KMS_ACCESS_DENIED: 403,
  KMS_UNAVAILABLE: 503,
  KEY_LIMIT_EXCEEDED: 503,
  INVALID_CONFIG: 500,
  KEYRING_ERROR: 503,
};

/** fastify's own errors for bad requests, by their codes. */
const FASTIFY_STATUS: Record<string, { status: number; code: string; message?: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Content-Type must be application/json' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'request body is larger than this server accepts (server.bodyLimitBytes); send fewer payloads per request' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'BAD_REQUEST', message: 'request body is empty; expected JSON {"payloads": [...]}' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'BAD_REQUEST' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'BAD_REQUEST' },
  FST_ERR_VALIDATION: { status: 400, code: 'BAD_REQUEST' },
  FST_ERR_NOT_FOUND: { status: 404, code: 'NOT_FOUND' },
};

export interface ErrorBody {
  error: { code: string; message: string };
}

/** Status and body for any error. Unknown errors are a 500 with a generic message: their text may hold anything. */
export function toHttp(err: unknown): { status: number; body: ErrorBody; unexpected: boolean } {
  if (err instanceof HttpError) return { status: HTTP_STATUS[err.code], body: { error: { code: err.code, message: err.message } }, unexpected: false };
  if (isEnvelopeError(err)) {
    // `??`: an error from a newer copy of the package may carry a code this copy does not know.
    const status = ENVELOPE_STATUS[err.code] ?? 500;
    return { status, body: { error: { code: err.code, message: status === 500 ? 'server misconfigured' : err.message } }, unexpected: status === 500 };
  }
  const e = err as { code?: string; statusCode?: number; message?: string; validation?: unknown };
  if (e && typeof e.code === 'string' && FASTIFY_STATUS[e.code]) {
    const m = FASTIFY_STATUS[e.code]!;
    const message = m.message ?? (e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ? 'request body is not valid JSON' : String(e.message ?? m.code));
    return { status: m.status, body: { error: { code: m.code, message } }, unexpected: false };
  }
  if (e && e.statusCode === 429) return { status: 429, body: { error: { code: 'RATE_LIMITED', message: String(e.message ?? 'too many requests') } }, unexpected: false };
  if (e && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, body: { error: { code: 'BAD_REQUEST', message: String(e.message ?? 'bad request') } }, unexpected: false };
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } }, unexpected: true };
}

/** Headers an error's answer carries (Retry-After for a throttled caller). */
export function errorHeaders(err: unknown): Record<string, string> | undefined {
  if (err instanceof HttpError && err.detail.retryAfterSeconds !== undefined) return { 'retry-after': String(err.detail.retryAfterSeconds) };
  return undefined;
}
