import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type FlattenedJWSInput, type JWSHeaderParameters, type JWTPayload } from 'jose';
import type { ServerConfig } from '../../config/schema.js';
import type { VerifiedCredential } from './principal.js';

type JwtConfig = NonNullable<ServerConfig['auth']['jwt']>;

/**
 * Result of checking a bearer token that looks like a JWT. `issuerUnavailable`: the issuer's keys
 * could not be fetched, so the token was never checked — the server's problem, not the caller's.
 */
export type JwtResult = { ok: true; credential: VerifiedCredential } | { ok: false; reason: string; unproven: boolean; issuerUnavailable?: boolean };

/** The JWKS could not be fetched or read: network error, timeout, a status other than 200, not a key set. */
class IssuerKeysUnavailable extends Error {
  constructor(readonly why: string) {
    super(why);
  }
}

/**
 * OIDC access tokens verified against the issuer's JWKS (fetched and cached by jose), with issuer,
 * audience, expiry and not-before checked within the configured clock tolerance.
 */
export class JwtVerifier {
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  /** Where the keys come from, as messages name it: the URL without its query (which could carry a secret). */
  readonly jwksLocation: string;

  constructor(private readonly config: JwtConfig) {
    const url = new URL(config.jwksUrl);
    this.jwksLocation = `${url.origin}${url.pathname}`;
    this.jwks = createRemoteJWKSet(url, { timeoutDuration: 5000, cooldownDuration: 30_000 });
  }

  /** A key set has been fetched at least once (jose keeps the last one when a refetch fails). */
  get hasKeys(): boolean {
    return this.jwks.jwks() !== undefined;
  }

  /**
   * Fetch the issuer's keys now (start-up, readiness): undefined when they came, else why not, so a
   * JWKS URL that cannot be reached is in the log before the first operator's login fails on it.
   */
  async probe(): Promise<string | undefined> {
    try {
      await this.jwks.reload();
      return undefined;
    } catch (err) {
      return `issuer keys could not be fetched from ${this.jwksLocation} (${fetchFailure(err)})`;
    }
  }

  async verify(token: string): Promise<JwtResult> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keyFor, {
        issuer: this.config.issuer,
        audience: this.config.audience,
        algorithms: this.config.algorithms,
        clockTolerance: this.config.clockToleranceSeconds,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      if (err instanceof IssuerKeysUnavailable) return { ok: false, reason: `issuer keys could not be fetched from ${this.jwksLocation} (${err.why})`, unproven: false, issuerUnavailable: true };
      return { ok: false, reason: describe(err), unproven: isUnproven(err) };
    }
    const sub = payload[this.config.subjectClaim];
    if (typeof sub !== 'string' || sub === '') return { ok: false, reason: `token has no "${this.config.subjectClaim}" claim`, unproven: false };
    // requiredClaims makes jose insist on a numeric exp; a session from this token ends there.
    return { ok: true, credential: { principal: { id: sub, groups: groupsOf(payload, this.config.groupClaims), via: 'jwt' }, expiresAt: payload.exp! } };
  }

  /**
   * jose's key getter both fetches the key set and picks a key from it. Choosing fails for the
   * token's reasons (no key with its kid, several, an algorithm it cannot use); anything else it
   * throws happened fetching or reading the set, which says nothing about the token.
   */
  private readonly keyFor = async (header: JWSHeaderParameters, input: FlattenedJWSInput) => {
    try {
      return await this.jwks(header, input);
    } catch (err) {
      if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys || err instanceof joseErrors.JOSENotSupported || err instanceof joseErrors.JOSEAlgNotAllowed) throw err;
      throw new IssuerKeysUnavailable(fetchFailure(err));
    }
  };
}

/** Why a JWKS fetch failed, in a few words: the network error's code, a timeout, or what came back. */
function fetchFailure(err: unknown): string {
  if (err instanceof joseErrors.JWKSTimeout) return 'timed out';
  if (err instanceof joseErrors.JWKSInvalid) return 'the answer is not a JSON Web Key Set';
  if (err instanceof joseErrors.JOSEError) return err.message.startsWith('Expected 200 OK') ? 'the answer was not 200 OK' : 'the answer is not a JSON Web Key Set';
  // fetch() rejects with "fetch failed" and the socket error as its cause.
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  return err instanceof Error ? err.message : 'unknown error';
}

export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

function groupsOf(payload: JWTPayload, claims: readonly string[]): string[] {
  const out = new Set<string>();
  for (const c of claims) {
    const v = payload[c];
    if (typeof v === 'string') v.split(' ').filter(Boolean).forEach((g) => out.add(g));
    else if (Array.isArray(v)) v.filter((g): g is string => typeof g === 'string').forEach((g) => out.add(g));
  }
  return [...out];
}

/**
 * Did the token fail to prove it came from the issuer? jose checks the signature before any claim,
 * so an expired or wrong-audience token was signed by the issuer: not a guess. (A token whose
 * issuer keys could not be fetched never gets here: see keyFor.)
 */
function isUnproven(err: unknown): boolean {
  if (err instanceof joseErrors.JWTClaimValidationFailed || err instanceof joseErrors.JWTExpired) return false;
  // Bad signature, unknown key, disallowed alg (none, HS256), malformed token or header.
  return err instanceof joseErrors.JOSEError;
}

/** Why a token was refused, without echoing the token. */
function describe(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'token expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `token claim "${err.claim}" is not acceptable (${err.reason})`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature does not verify';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'token was signed by a key the issuer does not publish';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm is not allowed';
  if (err instanceof joseErrors.JOSEError) return `token rejected (${err.code})`;
  return 'token could not be verified';
}
