import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec } from '../codecs/index.js';
import { openKeyProviders } from '../keys/assemble.js';
import { serve, type RunningServer } from '../src/server/index.js';
import { REPO_ROOT } from './cli-support/run-cli.js';
import { loopbackPort, startDevServer, type DevServer } from './cli-support/temporal-dev.js';

/**
 * The first decode, as docs/temporal-ui.md ("The first decode, step by step") tells a new operator
 * to do it with `npm start` (dev mode) and `temporal server start-dev` (temporal CLI 1.9.1, Web UI
 * 2.54.1): every click here is on the text the UI shows, so a UI that renames a control fails this
 * test before it misleads a reader. Nothing is put into the browser's storage behind the UI's back.
 * The codec server is the real dev mode: its printed token and login URL are the ones followed, and
 * they say localhost, as the UI's address does.
 */
const CHROMIUM = process.env.TEMPORAL_ENVELOPE_TEST_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
const SECRET = 'dlg_first_decode_7Hq2Zx9';

let dev: DevServer;
let codec: RunningServer;
let printed: string[] = [];
let browser: Browser;
let uiUrl: string;
let workflowPath: string;

beforeAll(async () => {
  const codecPort = await loopbackPort();
  const codecUrl = `http://localhost:${codecPort}`;
  dev = await startDevServer({ ui: { codecEndpoint: codecUrl } });
  uiUrl = dev.uiUrl!.replace('127.0.0.1', 'localhost');
  const keyring = path.join(mkdtempSync(path.join(tmpdir(), 'te-first-decode-')), 'keyring.json');
  // Dev mode as `npm start` runs it; the UI is on a test port instead of 8233, so its origin is allowed by the variable the docs name.
  codec = await serve({
    port: codecPort,
    env: { TEMPORAL_ENVELOPE_KEYRING: keyring, TEMPORAL_ENVELOPE_CORS_ORIGINS: uiUrl, TEMPORAL_ENVELOPE_LOG_LEVEL: process.env.OPDEBUG ? 'info' : 'silent' },
    print: (l) => printed.push(l),
    handleSignals: false,
  });
  const keys = await openKeyProviders({ local: { path: keyring } });
  const connection = await Connection.connect({ address: dev.address });
  const client = new Client({ connection, dataConverter: { payloadCodecs: [new EnvelopeCodec({ keyProviders: keys })] } });
  const handle = await client.workflow.start('accessGrantSaga', { taskQueue: 'first-decode', workflowId: 'first-decode-1', args: [{ delegationToken: SECRET }] });
  workflowPath = `/namespaces/default/workflows/first-decode-1/${handle.firstExecutionRunId}/history`;
  await connection.close();
  await keys.close?.();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  mkdirSync(ARTIFACTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await codec?.close();
  await dev?.stop();
});

describe('the first decode in the dev server UI (2.54.1)', () => {
  it('takes the documented steps, each on the text the UI shows', async () => {
    const text = printed.join('\n');
    const token = /Dev token \(shown once, not stored\): (\S+)/.exec(text)?.[1];
    const loginUrl = /sign in at (\S+\/login)/.exec(text)?.[1];
    expect(token).toBeDefined();
    expect(loginUrl).toBe(`${codec.publicUrl}/login`);

    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    // 1. Sign in at the URL the server printed.
    await page.goto(loginUrl!);
    await page.getByLabel('Token').fill(token!);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByText(`Signed in as dev on localhost.`).waitFor();

    // 2. Open the workflow: the UI calls the codec server without the cookie and shows its banner.
    await page.goto(`${uiUrl}${workflowPath}`);
    const banner = page.getByRole('button', { name: 'Codec Server could not connect' }).first();
    await banner.waitFor({ timeout: 30_000 });
    await banner.click();

    // 3. The "Codec Server" dialog.
    const dialog = page.getByRole('dialog').filter({ hasText: 'Codec Server' });
    await dialog.getByText('Use my browser setting and ignore Cluster-level setting.', { exact: true }).click();
    const endpoint = dialog.getByPlaceholder('Paste your endpoint here');
    // The browser endpoint starts empty and Apply stays disabled until it is filled in.
    expect(await endpoint.inputValue()).toBe('');
    await expect.poll(() => dialog.getByRole('button', { name: 'Apply', exact: true }).isDisabled()).toBe(true);
    await endpoint.fill(codec.publicUrl);
    await dialog.getByText('Include cross-origin credentials', { exact: true }).click();
    await page.screenshot({ path: path.join(ARTIFACTS, 'ui-first-decode-dialog.png') });
    await dialog.getByRole('button', { name: 'Apply', exact: true }).click();

    // 4. Reload: UI 2.54.1 does not decode again what the page already shows.
    await page.reload();
    // Polled, not waited on in the page: the UI re-renders as it loads, which ends an in-page wait.
    const body = () => page.locator('body').innerText().catch(() => '');
    await expect.poll(body, { timeout: 60_000, interval: 500 }).toContain(SECRET);
    await page.screenshot({ path: path.join(ARTIFACTS, 'ui-first-decode.png') });
    await context.close();
  }, 180_000);
});
