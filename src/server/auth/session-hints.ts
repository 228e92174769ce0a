import { isIP } from 'node:net';

/**
 * Why a browser's request came without a session cookie, said where the operator looks (the 401
 * body, the audit line, the login page). The usual causes are invisible in the UI, which shows
 * only "Codec Server could not connect":
 * - the UI's "Include cross-origin credentials" is off, so the browser sends no cookie;
 * - the operator signed in on another host name than the one the UI calls (127.0.0.1:8888 vs
 *   localhost:8888): cookies are kept per host name;
 * - the UI and the codec server are on different sites (localhost vs 127.0.0.1), and a
 *   SameSite=Lax cookie does not travel on a cross-site fetch.
 * Nothing here is secret: host names of this server, and the caller's own Origin.
 */

/** Host names /login issued sessions on lately, so a 401 elsewhere can name the mix-up. */
export class RecentSignInHosts {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly keepMs: number,
    private readonly now: () => number = Date.now,
    private readonly max = 16,
  ) {}

  note(host: string): void {
    const h = cleanHost(host);
    if (h === undefined) return;
    this.seen.delete(h);
    this.seen.set(h, this.now());
    // Oldest first in a Map: drop beyond the cap.
    while (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value!);
  }

  /** Hosts signed in on within keepMs, other than `host`, newest first. */
  othersThan(host: string): string[] {
    const cutoff = this.now() - this.keepMs;
    return [...this.seen]
      .filter(([h, t]) => t >= cutoff && hostnameOf(h) !== hostnameOf(host))
      .map(([h]) => h)
      .reverse();
  }
}

export interface MissingSessionContext {
  /** The request's Origin (a browser's cross-origin fetch), Host and User-Agent headers. */
  origin: string | undefined;
  host: string | undefined;
  userAgent: string | undefined;
  /** http or https: how this server is reached. */
  scheme: string;
  signIns: RecentSignInHosts | undefined;
}

/** The 401 message for a request with neither a bearer token nor a session cookie. */
export function explainMissingCredentials(c: MissingSessionContext): string {
  const host = cleanHost(c.host);
  const origin = cleanOrigin(c.origin);
  // The temporal CLI (Go's HTTP client) retries a 401 until its deadline and then says only
  // "context deadline exceeded": it never shows this body, but this server's log has it.
  if (origin === undefined && c.userAgent?.startsWith('Go-http-client/')) {
    return 'no credentials: the temporal CLI sends none without --codec-auth "Bearer <token>" (or TEMPORAL_CODEC_AUTH); it then retries this 401 until its deadline and prints only "context deadline exceeded"';
  }
  if (c.signIns === undefined) return 'no credentials: send "Authorization: Bearer <token>"';
  if (origin === undefined || host === undefined) return 'no credentials: send "Authorization: Bearer <token>" or log in at /login';
  const here = `${c.scheme}://${host}`;
  const ui = new URL(origin);
  if (!sameSite(ui.hostname, hostnameOf(host))) {
    const port = portOf(host);
    const alike = `${c.scheme}://${bracket(ui.hostname)}${port === undefined ? '' : `:${port}`}`;
    return (
      `no session cookie: this request came from origin ${origin} to ${here}, another site, and browsers do not send a SameSite=Lax session cookie across sites. ` +
      `Use one host name for both: set the UI's codec endpoint to ${alike} and sign in at ${alike}/login`
    );
  }
  const elsewhere = c.signIns.othersThan(host);
  if (elsewhere.length > 0) {
    return (
      `no session cookie: this request came from origin ${origin}; cookies set by ${c.scheme}://${elsewhere[0]} (signed in there lately) are not sent to ${here}, ` +
      `browsers keep them per host name: sign in at ${here}/login`
    );
  }
  return (
    `no session cookie: this request came from origin ${origin} without one. Sign in at ${here}/login (this host name: cookies are kept per host name), ` +
    `and in the UI's codec server settings turn on "Include cross-origin credentials"`
  );
}

export interface LoginPageNotes {
  /** Who the cookie goes to. */
  cookie: string;
  /** One line per configured UI origin: whether a sign-in here reaches the server from there. */
  origins: string[];
}

/** What the login page says about where its cookie will work. */
export function loginPageNotes(scheme: string, pageHost: string | undefined, corsOrigins: readonly string[]): LoginPageNotes {
  const host = cleanHost(pageHost);
  if (host === undefined) return { cookie: 'The session cookie is kept for the host name in your address bar.', origins: [] };
  const name = hostnameOf(host);
  const port = portOf(host);
  const cookie =
    `This sign-in sets a cookie for ${name} (this page's host name). The Temporal UI sends it only when its codec endpoint is ` +
    `${scheme}://${host} — the same host name — and its "Include cross-origin credentials" setting is on.`;
  const origins = corsOrigins.map((o) => {
    const ui = new URL(o);
    if (sameSite(ui.hostname, name)) return `${o}: signing in here works for it.`;
    if (isLocal(ui.hostname) && isLocal(name)) {
      const there = `${scheme}://${bracket(ui.hostname)}${port === undefined ? '' : `:${port}`}`;
      return `${o}: another host name. A UI there needs the codec endpoint ${there} and a sign-in at ${there}/login.`;
    }
    return `${o}: another site; browsers do not send this cookie from there (use the access token instead).`;
  });
  return { cookie, origins };
}

/**
 * Same site, as browsers judge it for SameSite cookies: the same host, or the same registrable
 * domain. Without the public suffix list this takes the last two labels, so it may call two sites
 * under a public suffix such as co.uk the same: then the hint is only less specific, never wrong
 * the other way (an IP address or localhost is a site of its own).
 */
export function sameSite(a: string, b: string): boolean {
  const x = a.toLowerCase().replace(/^\[|\]$/g, '');
  const y = b.toLowerCase().replace(/^\[|\]$/g, '');
  if (x === y) return true;
  if (isLocal(x) || isLocal(y) || isIP(x) || isIP(y)) return false;
  return x.split('.').slice(-2).join('.') === y.split('.').slice(-2).join('.');
}

function isLocal(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || isIP(h) !== 0;
}

/** A Host header fit to repeat in a message: host[:port] characters only, bounded. */
function cleanHost(host: string | undefined): string | undefined {
  if (host === undefined || host.length > 260 || !/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(host)) return undefined;
  return host.toLowerCase();
}

function cleanOrigin(origin: string | undefined): string | undefined {
  if (origin === undefined || origin.length > 300 || !/^https?:\/\/[^/?#\s]+$/i.test(origin)) return undefined;
  try {
    return new URL(origin).origin;
  } catch {
    return undefined;
  }
}

function hostnameOf(host: string): string {
  return host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
}

function portOf(host: string): string | undefined {
  return /:(\d+)$/.exec(host.startsWith('[') ? host.slice(host.indexOf(']')) : host)?.[1];
}

function bracket(hostname: string): string {
  return hostname.includes(':') && !hostname.startsWith('[') ? `[${hostname}]` : hostname;
}
