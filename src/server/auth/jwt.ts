import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { ServerConfig } from '../../config/schema.js';
import type { VerifiedCredential } from './principal.js';

type JwtConfig = NonNullable<ServerConfig['auth']['jwt']>;

/** Result of checking a bearer token that looks like a JWT. */
export type JwtResult = { ok: true; credential: VerifiedCredential } | { ok: false; reason: string; unproven: boolean };

/**
 * OIDC access tokens verified against the issuer's JWKS (fetched and cached by jose), with issuer,
 * audience, expiry and not-before checked within the configured clock tolerance.
 */
export class JwtVerifier {
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;

  constructor(private readonly config: JwtConfig) {
    this.jwks = createRemoteJWKSet(new URL(config.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 });
  }

  async verify(token: string): Promise<JwtResult> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.jwks, {
        issuer: this.config.issuer,
        audience: this.config.audience,
        algorithms: this.config.algorithms,
        clockTolerance: this.config.clockToleranceSeconds,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      return { ok: false, reason: describe(err), unproven: isUnproven(err) };
    }
    const sub = payload[this.config.subjectClaim];
    if (typeof sub !== 'string' || sub === '') return { ok: false, reason: `token has no "${this.config.subjectClaim}" claim`, unproven: false };
    // requiredClaims makes jose insist on a numeric exp; a session from this token ends there.
    return { ok: true, credential: { principal: { id: sub, groups: groupsOf(payload, this.config.groupClaims), via: 'jwt' }, expiresAt: payload.exp! } };
  }
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
 * so an expired or wrong-audience token was signed by the issuer: not a guess. A token the issuer
 * keys could not be fetched for is our problem, not the caller's.
 */
function isUnproven(err: unknown): boolean {
  if (err instanceof joseErrors.JWTClaimValidationFailed || err instanceof joseErrors.JWTExpired) return false;
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) return false;
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
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JOSEError) {
    return err.code === 'ERR_JWKS_TIMEOUT' ? 'issuer keys could not be fetched' : `token rejected (${err.code})`;
  }
  return 'token could not be verified';
}
