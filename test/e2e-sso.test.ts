import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { decodeJwt } from 'jose';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { EnvelopeCodec } from '../codecs/index.js';
import { validateConfig } from '../src/config/load.js';
import { LocalKeyring } from '../keys/index.js';
import { createKeyring } from '../keys/keyring-file.js';
import { httpsRequest, startCodecServer, type CodecServerProcess } from './cli-support/codec-server-process.js';
import { REPO_ROOT } from './cli-support/run-cli.js';
import { loopbackPort, startDevServer, type DevServer } from './cli-support/temporal-dev.js';
import { rawHistory } from './e2e-support/history.js';
import { startUiServer, UI_SERVER_VERSION, type UiServer } from './cli-support/temporal-ui-server.js';
import { GROUPS_CLAIM, startIdp, type Idp, type IdpUser } from './support/oidc-idp.js';
import { makeThrowawayTls, type ThrowawayTls } from './support/throwaway-tls.js';

/**
 * Single sign-on end to end, as docs/temporal-ui.md set-up 2 describes it: Temporal's standalone UI
 * server with an OIDC login against a real OpenID provider, passing each operator's access token to
 * our codec server on HTTPS, which verifies it against the provider's JWKS and applies the policy to
 * the groups in it. Everything runs on loopback and is started and stopped here: the Temporal dev
 * server (headless), the IdP (oidc-provider), `temporal-envelope serve` with a config file, the UI
 * server (built from the Go module proxy by scripts/setup-test-deps.mjs), and Debian's chromium,
 * which trusts the codec server's throwaway certificate by its public key and nothing else.
 */

const CHROMIUM = process.env.TEMPORAL_ENVELOPE_TEST_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
const SECRET = { token: 'dlg_sso_4Hq8Zr2Wk6Nv1Xc', email: 'sso.patient@clinic.example' };
const WORKFLOW_ID = 'sso-grant-1';
const READERS = 'temporal-codec-readers';
const USERS = {
  // May decode: her group is the one the policy names.
  ana: { username: 'ana', password: 'ana-pw-7f3k', name: 'Ana Operator', email: 'ana@corp.example', groups: [READERS, 'staff'] },
  // Signed in to the UI, but in a group the policy does not name.
  ben: { username: 'ben', password: 'ben-pw-2m9q', name: 'Ben Support', email: 'ben@corp.example', groups: ['support', 'staff'] },
  // In the readers group, but her access tokens live two seconds: the UI keeps its session (the ID
  // token) and goes on sending the expired access token to the codec server.
  cam: { username: 'cam', password: 'cam-pw-5t1r', name: 'Cam Expired', email: 'cam@corp.example', groups: [READERS], accessTokenTtlSeconds: 2 },
} satisfies Record<string, IdpUser>;

let dir: string;
let tls: ThrowawayTls;
let dev: DevServer;
let idp: Idp;
let codec: CodecServerProcess;
let ui: UiServer;
let codecUrl: string;
let browser: Browser;
let workflowPath: string;
/** The started event's input as stored: proto3 JSON for direct requests, and its base64 data as the UI shows it sealed. */
let sealedPayload: { metadata: Record<string, string>; data: string };
let sealedData: string;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = mkdtempSync(path.join(tmpdir(), 'te-sso-'));
  tls = makeThrowawayTls(dir);
  const [codecPort, idpPort, uiPort] = [await loopbackPort(), await loopbackPort(), await loopbackPort()];
  codecUrl = `https://127.0.0.1:${codecPort}`;
  const uiUrl = `http://127.0.0.1:${uiPort}`;
  const client = { clientId: 'temporal-ui', clientSecret: 'ui-client-secret-9c2d7e', redirectUri: `${uiUrl}/auth/sso/callback` };
  const issuer = `http://127.0.0.1:${idpPort}`;

  const keyringPath = path.join(dir, 'keyring.json');
  const keyring = await createKeyring(keyringPath);
  if (keyring === undefined) throw new Error(`${keyringPath} already exists`);
  const codecConfigYaml = YAML.stringify({
    server: { host: '127.0.0.1', port: codecPort, tls: { certFile: tls.certFile, keyFile: tls.keyFile } },
    cors: { origins: [uiUrl] },
    auth: {
      jwt: {
        jwksUrl: `${issuer}/jwks`,
        issuer,
        audience: codecUrl,
        groupClaims: [GROUPS_CLAIM],
        // Production keeps the default 30 s; here cam's 2-second tokens count as expired as soon as they are.
        clockToleranceSeconds: 0,
      },
      // The UI brings the operator's token with every request: no cookie login needed.
      session: { enabled: false },
    },
    policy: { onDeny: 'leave-sealed', rules: [{ groups: [READERS], namespaces: ['default'], actions: ['decode'] }] },
    keys: { provider: 'local', local: { path: keyringPath } },
    log: { pretty: false },
  });
  writeFileSync(path.join(dir, 'codec-server.yaml'), codecConfigYaml);
  writeFileSync(path.join(ARTIFACTS, 'sso-codec-server.yaml'), codecConfigYaml);

  // Started side by side; each one that came up is kept so afterAll stops it even if another failed.
  const [d, i, c] = await Promise.allSettled([
    startDevServer(),
    startIdp({ port: idpPort, client, resource: codecUrl, users: Object.values(USERS) }),
    startCodecServer({ configPath: path.join(dir, 'codec-server.yaml'), url: codecUrl, ca: tls.ca, home: dir }),
  ]);
  if (d.status === 'fulfilled') dev = d.value;
  if (i.status === 'fulfilled') idp = i.value;
  if (c.status === 'fulfilled') codec = c.value;
  for (const r of [d, i, c]) if (r.status === 'rejected') throw r.reason;
  ui = await startUiServer({
    port: uiPort,
    temporalAddress: dev.address,
    config: {
      enableUi: true,
      defaultNamespace: 'default',
      disableNewsFetch: true,
      // The test's UI is plain HTTP on loopback; behind HTTPS leave this false.
      cors: { cookieInsecure: true, allowOrigins: [uiUrl] },
      auth: {
        enabled: true,
        providers: [
          {
            label: 'Example Corp SSO',
            type: 'oidc',
            providerUrl: issuer,
            clientId: client.clientId,
            clientSecret: client.clientSecret,
            scopes: ['openid', 'profile', 'email'],
            callbackUrl: client.redirectUri,
            // Sent with the authorization request: the access token is then issued for the codec server.
            options: { resource: codecUrl },
          },
        ],
      },
      codec: { endpoint: codecUrl, passAccessToken: true, includeCredentials: false },
    },
  });
  writeFileSync(path.join(ARTIFACTS, 'sso-ui-server.yaml'), ui.configYaml);

  const connection = await Connection.connect({ address: dev.address });
  const temporal = new Client({ connection, dataConverter: { payloadCodecs: [new EnvelopeCodec({ keyProviders: LocalKeyring.fromDocument(keyring) })] } });
  // No worker is needed: the started event already holds the sealed input the UI shows.
  const handle = await temporal.workflow.start('accessGrantSaga', { taskQueue: 'sso-test', workflowId: WORKFLOW_ID, args: [{ delegationToken: SECRET.token, email: SECRET.email }] });
  workflowPath = `/namespaces/default/workflows/${WORKFLOW_ID}/${handle.firstExecutionRunId}/history`;
  const { events } = await rawHistory(connection, 'default', WORKFLOW_ID);
  const input = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!input?.data || !input.metadata) throw new Error('no input payload in the started event');
  sealedData = Buffer.from(input.data).toString('base64');
  sealedPayload = { metadata: Object.fromEntries(Object.entries(input.metadata).map(([k, v]) => [k, Buffer.from(v).toString('base64')])), data: sealedData };
  expect(Buffer.from(input.metadata.encoding!).toString()).toBe('binary/encrypted');
  await connection.close();

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Trust the codec server's certificate, and only it, by its public key.
    args: ['--no-sandbox', `--ignore-certificate-errors-spki-list=${tls.spkiSha256}`],
  });
});

afterAll(async () => {
  await browser?.close();
  await ui?.stop();
  await codec?.stop();
  await idp?.stop();
  await dev?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Decode {
  status: number;
  headers: Record<string, string>;
  /** undefined if the page went away before the body was read. */
  body: string | undefined;
}

interface Signed {
  context: BrowserContext;
  page: Page;
  /** Every /decode the page sent to the codec server so far, with the answers. */
  decodes: Decode[];
  /** The tokens the UI keeps for this operator (local storage `AuthUser`, from the UI server's login). */
  tokens(): Promise<{ accessToken: string; idToken: string }>;
}

/** Record the page's /decode calls to the codec server as the browser made them. */
function recordDecodes(page: Page): Decode[] {
  const decodes: Decode[] = [];
  page.on('response', (r) => {
    if (!r.url().startsWith(`${codecUrl}/decode`) || r.request().method() !== 'POST') return;
    const d: Decode = { status: r.status(), headers: {}, body: undefined };
    decodes.push(d);
    void r.request().allHeaders().then((h) => (d.headers = h), () => undefined);
    void r.text().then((b) => (d.body = b), () => undefined);
  });
  return decodes;
}

/** Open the workflow in a fresh browser, get sent to the IdP by the UI, sign in there, come back. */
async function signIn(user: IdpUser, screenshots = false): Promise<Signed> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const decodes = recordDecodes(page);
  await page.goto(`${ui.url}${workflowPath}`);
  // Not signed in: the UI shows its login page, whose one button starts the OIDC flow at /auth/sso.
  const sso = page.getByRole('button', { name: 'Continue to SSO' });
  await sso.waitFor({ timeout: 30_000 });
  if (screenshots) await page.screenshot({ path: path.join(ARTIFACTS, 'sso-ui-login.png') });
  await sso.click();
  await page.waitForSelector('#username', { timeout: 30_000 });
  expect(page.url().startsWith(`${idp.issuer}/interaction/`), page.url()).toBe(true);
  await page.fill('#username', user.username);
  await page.fill('#password', user.password);
  if (screenshots) await page.screenshot({ path: path.join(ARTIFACTS, 'sso-idp-login.png') });
  await page.click('button[type="submit"]');
  // IdP -> UI server callback (code exchange) -> back to the page first asked for.
  await page.waitForURL((u) => u.href.startsWith(`${ui.url}${workflowPath}`), { timeout: 30_000 });
  await page.getByText(WORKFLOW_ID).first().waitFor({ timeout: 30_000 });
  const tokens = async () => {
    // Runs in the page (the test's tsconfig has no DOM types).
    const raw = await page.evaluate(() => (globalThis as unknown as { localStorage: { getItem(k: string): string | null } }).localStorage.getItem('AuthUser'));
    const u = JSON.parse(raw ?? '{}') as { accessToken?: string; idToken?: string };
    if (!u.accessToken || !u.idToken) throw new Error(`no tokens in the UI's AuthUser: ${raw?.slice(0, 200)}`);
    return { accessToken: u.accessToken, idToken: u.idToken };
  };
  return { context, page, decodes, tokens };
}

/** Wait until the page has had an answer with `status` from the codec server, and its body. */
async function decodeAnswered(decodes: Decode[], status: number): Promise<Decode> {
  await expect.poll(() => decodes.find((d) => d.status === status && d.body !== undefined), { timeout: 30_000, interval: 100, message: `no /decode answered ${status}: ${JSON.stringify(decodes.map((d) => d.status))}` } as never).toBeDefined();
  return decodes.find((d) => d.status === status && d.body !== undefined)!;
}

const COULD_NOT_CONNECT = 'Codec Server could not connect';

async function expectNoSecret(page: Page): Promise<void> {
  const html = await page.content();
  for (const s of Object.values(SECRET)) expect(html).not.toContain(s);
}

let anaTokens: { accessToken: string; idToken: string } | undefined;

// A sign-in is several page loads across three servers: give each test room on a loaded 2-core machine.
describe('single sign-on: the Temporal UI passes the operator access token to the codec server', { timeout: 150_000 }, () => {
  it(`runs UI ${UI_SERVER_VERSION} with the OIDC login and pass-access-token to the HTTPS codec endpoint`, async () => {
    const settings = (await (await fetch(`${ui.url}/api/v1/settings`)).json()) as { Version: string; Auth: { Enabled: boolean }; Codec: { Endpoint: string; PassAccessToken: boolean; IncludeCredentials: boolean } };
    expect(settings.Version).toBe(UI_SERVER_VERSION);
    expect(settings.Auth.Enabled).toBe(true);
    expect(settings.Codec).toMatchObject({ Endpoint: codecUrl, PassAccessToken: true, IncludeCredentials: false });
  });

  it('shows the decoded input to an operator in the allowed group, signed in through the IdP', async () => {
    const { context, page, decodes, tokens } = await signIn(USERS.ana, true);
    await page.getByText(SECRET.token).first().waitFor({ state: 'attached', timeout: 30_000 });
    const decode = await decodeAnswered(decodes, 200);
    // The input box truncates; its preview shows the whole decoded JSON (for the screenshot).
    await page.getByRole('button', { name: 'Preview Input' }).click();
    await page.getByRole('dialog').getByText(SECRET.email).first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'sso-decoded.png') });
    expect(await page.content()).toContain(SECRET.email);

    // What the UI sent: the access token as the bearer, the ID token in Authorization-Extras.
    anaTokens = await tokens();
    expect(decode.headers.authorization).toBe(`Bearer ${anaTokens.accessToken}`);
    expect(decode.headers['authorization-extras']).toBe(anaTokens.idToken);
    // The access token is the IdP's JWT for the codec server, with the groups; the ID token is for the UI.
    expect(decodeJwt(anaTokens.accessToken)).toMatchObject({ iss: idp.issuer, sub: 'ana', aud: codecUrl, [GROUPS_CLAIM]: USERS.ana.groups });
    expect(decodeJwt(anaTokens.idToken)).toMatchObject({ iss: idp.issuer, sub: 'ana', aud: 'temporal-ui' });
    expect(codec.audits()).toContainEqual(expect.objectContaining({ route: '/decode', principal: 'ana', via: 'jwt', decision: 'allowed', status: 200, verifiedWorkflowIds: [WORKFLOW_ID] }));
    await context.close();
  });

  it('leaves the input sealed for an operator whose group the policy does not name', async () => {
    const { context, page, decodes } = await signIn(USERS.ben);
    // No rule gives ben's groups the namespace: 403, and the UI shows the payload as it came.
    const decode = await decodeAnswered(decodes, 403);
    expect(JSON.parse(decode.body!)).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect(decodes.filter((d) => d.status !== 403)).toEqual([]);
    await page.getByText(COULD_NOT_CONNECT).filter({ visible: true }).first().waitFor({ timeout: 30_000 });
    await page.getByText(sealedData.slice(0, 32)).first().waitFor({ state: 'attached', timeout: 30_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'sso-sealed.png') });
    await expectNoSecret(page);
    expect(codec.audits()).toContainEqual(expect.objectContaining({ route: '/decode', principal: 'ben', via: 'jwt', decision: 'denied', status: 403 }));
    await context.close();
  });

  it('refuses an expired access token with 401, though the ID token beside it is still valid', async () => {
    const signed = await signIn(USERS.cam);
    const { accessToken, idToken } = await signed.tokens();
    const { exp } = decodeJwt(accessToken);
    expect(exp).toBeDefined();
    // cam's access token lives 2 s; wait for the clock to pass its expiry (no fixed sleep).
    await expect.poll(() => Date.now() / 1000 >= exp! + 1, { timeout: 30_000, interval: 250 }).toBe(true);
    expect(decodeJwt(idToken).exp! * 1000).toBeGreaterThan(Date.now());

    // The UI still has its session (the UI server checks the ID token) and sends the stale access
    // token: a new tab of the same browser, so every decode it makes is after the expiry.
    await signed.page.close();
    const page = await signed.context.newPage();
    const decodes = recordDecodes(page);
    await page.goto(`${ui.url}${workflowPath}`);
    const decode = await decodeAnswered(decodes, 401);
    expect(decode.headers.authorization).toBe(`Bearer ${accessToken}`);
    expect(decode.headers['authorization-extras']).toBe(idToken);
    expect(JSON.parse(decode.body!)).toEqual({ error: { code: 'UNAUTHENTICATED', message: 'token expired' } });
    expect(decodes.filter((d) => d.status !== 401)).toEqual([]);
    await page.getByText(COULD_NOT_CONNECT).filter({ visible: true }).first().waitFor({ timeout: 30_000 });
    await page.getByText(sealedData.slice(0, 32)).first().waitFor({ state: 'attached', timeout: 30_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'sso-expired.png') });
    await expectNoSecret(page);
    expect(codec.audits()).toContainEqual(expect.objectContaining({ route: '/decode', principal: null, decision: 'unauthenticated', error: 'UNAUTHENTICATED', status: 401 }));
    await signed.context.close();
  });

  it('never takes the ID token in Authorization-Extras as a credential, and never logs a token', async () => {
    expect(anaTokens, 'the allowed operator test signs in first').toBeDefined();
    const { accessToken, idToken } = anaTokens!;
    const post = (headers: Record<string, string>) =>
      httpsRequest(`${codecUrl}/decode`, {
        ca: tls.ca,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
        body: JSON.stringify({ payloads: [sealedPayload] }),
      });

    // The ID token is addressed to the UI (aud temporal-ui): as a bearer it is refused...
    const asBearer = await post({ authorization: `Bearer ${idToken}` });
    expect(asBearer.status).toBe(401);
    expect(JSON.parse(asBearer.body)).toMatchObject({ error: { code: 'UNAUTHENTICATED', message: expect.stringContaining('"aud"') } });
    // ...alone in Authorization-Extras it is no credential at all...
    const extrasOnly = await post({ 'authorization-extras': idToken });
    expect(extrasOnly.status).toBe(401);
    // ...and beside a valid access token it changes nothing, whatever it holds.
    const withJunk = await post({ authorization: `Bearer ${accessToken}`, 'authorization-extras': 'not-a-token' });
    expect(withJunk.status).toBe(200);
    const decoded = (JSON.parse(withJunk.body) as { payloads: { data: string }[] }).payloads[0]!;
    expect(Buffer.from(decoded.data, 'base64').toString()).toContain(SECRET.token);

    // The browser's preflight allowed the header (the UI's requests went through); say so explicitly.
    const preflight = await httpsRequest(`${codecUrl}/decode`, {
      ca: tls.ca,
      method: 'OPTIONS',
      headers: { origin: ui.url, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,authorization-extras,content-type,x-namespace' },
    });
    expect(preflight.status).toBe(204);

    const out = codec.output();
    expect(out).toContain('"via":"jwt"');
    for (const secret of [accessToken, idToken, ...Object.values(SECRET)]) expect(out).not.toContain(secret);
    for (const part of accessToken.split('.').concat(idToken.split('.'))) expect(out).not.toContain(part);
  });
});

describe('docs/temporal-ui.md set-up 2', () => {
  const doc = readFileSync(path.join(REPO_ROOT, 'docs', 'temporal-ui.md'), 'utf8');
  const yamlAfter = (heading: string) => {
    const at = doc.indexOf(heading);
    const start = doc.indexOf('```yaml\n', at);
    if (at < 0 || start < 0) throw new Error(`no yaml block after "${heading}" in docs/temporal-ui.md`);
    return YAML.parse(doc.slice(start + 8, doc.indexOf('```', start + 8))) as Record<string, unknown>;
  };

  it('shows a codec server config that validates and has the auth and policy this test runs', () => {
    const shown = validateConfig(yamlAfter('**3. The codec server**'), 'docs/temporal-ui.md');
    const ran = validateConfig(YAML.parse(readFileSync(path.join(ARTIFACTS, 'sso-codec-server.yaml'), 'utf8')));
    expect(shown.auth.jwt).toMatchObject({ groupClaims: ran.auth.jwt!.groupClaims });
    expect(shown.auth.session.enabled).toBe(ran.auth.session.enabled);
    expect(shown.policy).toEqual(ran.policy);
    expect(shown.server.tls).toBeDefined();
  });

  it('shows a UI server config with the OIDC provider and codec settings this test runs', () => {
    const shown = yamlAfter('**2. The UI server**') as { auth: { enabled: boolean; providers: { options: { resource: string }; scopes: string[] }[] }; codec: Record<string, unknown> };
    const ran = YAML.parse(ui.configYaml) as typeof shown;
    expect(shown.auth.enabled).toBe(true);
    expect(shown.auth.providers[0]!.scopes).toEqual(ran.auth.providers[0]!.scopes);
    expect(shown.auth.providers[0]!.options.resource).toBe(shown.codec.endpoint);
    expect(Object.keys(shown.codec).sort()).toEqual(Object.keys(ran.codec).sort());
    expect(shown.codec).toMatchObject({ passAccessToken: true, includeCredentials: false });
    expect(String(shown.codec.endpoint)).toMatch(/^https:/);
  });
});

afterAll(() => {
  // Keep the docs' screenshots current when asked to (they are committed; test-artifacts/ is not).
  if (process.env.TEMPORAL_ENVELOPE_UPDATE_SCREENSHOTS === '1') {
    for (const f of ['sso-ui-login.png', 'sso-idp-login.png', 'sso-decoded.png', 'sso-sealed.png', 'sso-expired.png']) copyFileSync(path.join(ARTIFACTS, f), path.join(REPO_ROOT, 'docs', 'images', f));
  }
});
