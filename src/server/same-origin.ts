import type { FastifyRequest } from 'fastify';

/**
 * Is this request from a page of this server's own origin? For /login and /logout, which set and
 * clear the session cookie: a form on any other origin (another site, another port of this host,
 * the Temporal UI) must not be able to sign a browser in as someone else or out (login CSRF).
 *
 * Accepted: an `Origin` equal to this server's origin — `req.protocol://req.host`, which fastify
 * takes from X-Forwarded-Proto/-Host only under `server.trustProxy` — unless Fetch Metadata
 * (`Sec-Fetch-Site`) contradicts it; without `Origin`, a `Sec-Fetch-Site` of `same-origin` or
 * `none`; without either, a JSON body only: a browser cannot send JSON to another origin without
 * a CORS preflight, and browsers that preflight send `Origin`, so such a request is a script or
 * CLI, not a forged form. Everything else is refused, including `Origin: null`.
 */
export type OriginCheck = { ok: true } | { ok: false; reason: string };

const ORIGIN = /^https?:\/\/[^/?#\s]+$/i;

export function checkSameOrigin(req: FastifyRequest): OriginCheck {
  const origin = header(req, 'origin');
  const site = header(req, 'sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return { ok: false, reason: `the browser says this request came from a ${JSON.stringify(site.slice(0, 40))} page (Sec-Fetch-Site), not from this server's own origin` };
  }
  if (origin !== undefined) {
    const own = ownOrigin(req);
    if (own !== undefined && normalise(origin) === own) return { ok: true };
    const proxied = req.headers['x-forwarded-proto'] !== undefined || req.headers['x-forwarded-host'] !== undefined;
    const hint = proxied ? ' (behind a proxy that sets X-Forwarded-Proto/-Host, set server.trustProxy so they count)' : '';
    return { ok: false, reason: `Origin ${JSON.stringify(origin.slice(0, 200))} is not this server's own origin ${own ?? '(unknown: bad Host header)'}${hint}` };
  }
  if (site !== undefined) return { ok: true };
  if (/^application\/json\s*(;|$)/i.test(header(req, 'content-type') ?? '')) return { ok: true };
  return { ok: false, reason: "cannot tell that this form was posted from this server's login page (no Origin or Sec-Fetch-Site header)" };
}

function ownOrigin(req: FastifyRequest): string | undefined {
  return normalise(`${req.protocol}://${req.host}`);
}

/** scheme://host[:port] in URL's canonical form (lowercase, default port dropped), or undefined. */
function normalise(origin: string): string | undefined {
  if (!ORIGIN.test(origin)) return undefined;
  try {
    return new URL(origin).origin;
  } catch {
    return undefined;
  }
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === '' ? undefined : s;
}
