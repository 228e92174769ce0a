import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors as oidcErrors, type Configuration } from 'oidc-provider';

/**
 * A real OpenID provider on loopback (`oidc-provider`, the certified Node implementation), set up as
 * a company IdP is for the Temporal UI: one confidential client (the UI server, authorization code
 * flow), users who sign in on a login page with a password, and access tokens issued as JWTs *for a
 * resource* (RFC 8707 resource indicators): their `aud` is the codec server, their `groups` claim
 * carries the user's groups, and they are signed with a key the provider publishes at /jwks. The ID
 * token goes to the client (its `aud` is the UI's client id), as in any OIDC login.
 */
export interface IdpUser {
  readonly username: string;
  readonly password: string;
  readonly name: string;
  readonly email: string;
  readonly groups: readonly string[];
  /** How long this user's access tokens live; default one hour. */
  readonly accessTokenTtlSeconds?: number;
}

export interface IdpOptions {
  readonly port: number;
  readonly client: { readonly clientId: string; readonly clientSecret: string; readonly redirectUri: string };
  /** The resource indicator (and so the `aud`) of the access tokens: the codec server's URL. */
  readonly resource: string;
  readonly users: readonly IdpUser[];
}

export interface Idp {
  readonly issuer: string;
  readonly jwksUrl: string;
  stop(): Promise<void>;
}

export const GROUPS_CLAIM = 'groups';

export async function startIdp(options: IdpOptions): Promise<Idp> {
  const issuer = `http://127.0.0.1:${options.port}`;
  const users = new Map(options.users.map((u) => [u.username, u]));
  const signing = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(signing.privateKey)), kid: 'idp-rs256-1', alg: 'RS256', use: 'sig' };

  const configuration: Configuration = {
    clients: [
      {
        client_id: options.client.clientId,
        client_secret: options.client.clientSecret,
        redirect_uris: [options.client.redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
    async findAccount(_ctx, sub) {
      const user = users.get(sub);
      if (!user) return undefined;
      return { accountId: sub, claims: () => ({ sub, name: user.name, email: user.email }) };
    },
    ttl: {
      AccessToken: (_ctx, token) => users.get(token.accountId ?? '')?.accessTokenTtlSeconds ?? 3600,
      IdToken: 3600,
      Grant: 3600,
      Session: 3600,
      Interaction: 600,
    },
    // Access tokens for the codec server carry the groups our policy names.
    extraTokenClaims: (_ctx, token) => {
      const user = 'accountId' in token && typeof token.accountId === 'string' ? users.get(token.accountId) : undefined;
      return user ? { [GROUPS_CLAIM]: [...user.groups] } : undefined;
    },
    features: {
      // Our own login page below, with passwords checked; not the library's accept-anyone dev pages.
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // The UI server asks for the resource in the authorization request (its provider `options`)
        // but its token request names none: the granted resource is then the one the token is for.
        defaultResource: () => options.resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== options.resource) throw new oidcErrors.InvalidTarget(`unknown resource ${indicator}`);
          return { scope: 'codec', audience: options.resource, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
  };
  const provider = new Provider(issuer, configuration);
  const protocol = provider.callback(); // koa's handler answers its own errors

  const server = http.createServer((req, res) => {
    const m = /^\/interaction\/([\w-]+)(\/login)?$/.exec((req.url ?? '').split('?')[0]!);
    if (!m) {
      void protocol(req, res);
      return;
    }
    interaction(req, res, m[2] === '/login').catch((err: unknown) => {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`interaction failed: ${(err as Error).message}`);
    });
  });

  async function interaction(req: http.IncomingMessage, res: http.ServerResponse, submitted: boolean): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'consent') {
      // A first-party client: consent is implied, as a company IdP configures its own UI.
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session!.accountId, clientId: details.params.client_id as string });
      const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
      if (missing.missingOIDCScope) grant!.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant!.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant!.addResourceScope(indicator, scopes.join(' '));
      await provider.interactionFinished(req, res, { consent: { grantId: await grant!.save() } }, { mergeWithLastSubmission: true });
      return;
    }
    if (!submitted) {
      loginPage(res, details.uid);
      return;
    }
    const form = new URLSearchParams(await readBody(req));
    const username = form.get('username') ?? '';
    const user = users.get(username);
    if (!user || form.get('password') !== user.password) {
      loginPage(res, details.uid, 'Unknown user or wrong password.');
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: user.username } }, { mergeWithLastSubmission: false });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  if (port !== options.port) throw new Error(`IdP listening on ${port}, expected ${options.port}`);
  return {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function loginPage(res: http.ServerResponse, uid: string, error?: string): void {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>Example Corp sign-in</title>
<style>body{font-family:sans-serif;max-width:22rem;margin:4rem auto}label{display:block;margin:.8rem 0}input{width:100%;padding:.4rem}.error{color:#b00}</style></head>
<body><h1>Example Corp sign-in</h1>${error ? `<p class="error" role="alert">${error}</p>` : ''}
<form method="post" action="/interaction/${encodeURIComponent(uid)}/login">
<label>User name <input id="username" name="username" autocomplete="username" autofocus></label>
<label>Password <input id="password" name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form></body></html>`;
  res.writeHead(error ? 401 : 200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      body += d;
      if (body.length > 16_384) req.destroy(new Error('login form too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}
