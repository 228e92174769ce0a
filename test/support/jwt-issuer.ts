import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';

/** A real OIDC-style issuer on loopback: publishes a JWKS and signs tokens (plus a rogue key for forgeries). */
export async function startJwtIssuer() {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const rogue = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const server = http.createServer((req, res) => {
    if (req.url === '/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = `${base}/`;
  const sign = (claims: JWTPayload, opts: { exp?: string | number; iss?: string; aud?: string; rogue?: boolean } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(opts.iss ?? issuer)
      .setAudience(opts.aud ?? 'temporal-codec')
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '5m')
      .sign(opts.rogue ? rogue.privateKey : privateKey);
  return { jwksUrl: `${base}/jwks.json`, issuer, audience: 'temporal-codec', sign, stop: () => new Promise<void>((r) => server.close(() => r())) };
}
