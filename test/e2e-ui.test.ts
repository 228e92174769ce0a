import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec } from '../codecs/index.js';
import { LocalKeyring, newKeyringDocument } from '../keys/index.js';
import { REPO_ROOT } from './cli-support/run-cli.js';
import { loopbackPort, startDevServer, type DevServer } from './cli-support/temporal-dev.js';
import { buildTestServer, token } from './support/server-harness.js';

/**
 * The Temporal UI in a real browser (Debian's chromium, driven by playwright-core), reading a
 * workflow whose input is sealed. The dev server's UI has no login, so the operator's identity
 * reaches the codec server the way the UI allows for that case: the operator signs in at the codec
 * server's /login (an HttpOnly session cookie), and the UI's codec settings "include cross-origin
 * credentials" make it send that cookie with /decode. UI and codec server are both on 127.0.0.1:
 * different ports, same site, so the SameSite=Lax cookie goes along.
 *
 * The UI server of `temporal server start-dev` does not read TEMPORAL_CODEC_INCLUDE_CREDENTIALS, so
 * the setting is made where an operator makes it: the UI's own codec settings, kept in the browser's
 * local storage (temporalio/ui src/lib/stores/data-encoder-config.ts: endpoint, includeCredentials,
 * overrideRemoteCodecConfiguration).
 */

const CHROMIUM = process.env.TEMPORAL_ENVELOPE_TEST_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
const SECRET = { token: 'dlg_ui_9fK2mQ7xLp4Rt8Vw', email: 'ui.patient@clinic.example' };
const operator = token('operator', ['sre']);
const outsider = token('outsider', []);
const tenantOps = token('tenant-ops', ['tenant-b']); // may decode only tenant-b-* workflows

let dev: DevServer;
let codecUrl: string;
let closeCodec: () => Promise<void>;
let audits: () => Record<string, unknown>[];
let browser: Browser;
let workflowPath: string;

beforeAll(async () => {
  const keys = LocalKeyring.fromDocument(newKeyringDocument());
  const codecPort = await loopbackPort();
  codecUrl = `http://127.0.0.1:${codecPort}`;
  dev = await startDevServer({ ui: { codecEndpoint: codecUrl } });
  const srv = await buildTestServer(
    {
      cors: { origins: [dev.uiUrl!] },
      auth: { staticTokens: [operator.entry, outsider.entry, tenantOps.entry], session: { enabled: true } },
      policy: {
        onDeny: 'leave-sealed',
        rules: [
          { groups: ['sre'], namespaces: ['default'], actions: ['decode'] },
          { groups: ['tenant-b'], namespaces: ['default'], workflowIdPatterns: ['tenant-b-*'], actions: ['decode'] },
        ],
      },
      rateLimit: { enabled: false },
    },
    keys,
  );
  await srv.app.listen({ host: '127.0.0.1', port: codecPort });
  audits = srv.audits;
  closeCodec = () => srv.app.close();

  const connection = await Connection.connect({ address: dev.address });
  const client = new Client({ connection, dataConverter: { payloadCodecs: [new EnvelopeCodec({ keyProviders: keys })] } });
  // No worker is needed: the started event already holds the sealed input the UI shows.
  const handle = await client.workflow.start('accessGrantSaga', { taskQueue: 'ui-test', workflowId: 'ui-grant-1', args: [{ delegationToken: SECRET.token, email: SECRET.email }] });
  workflowPath = `/namespaces/default/workflows/ui-grant-1/${handle.firstExecutionRunId}/history`;
  await connection.close();

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  mkdirSync(ARTIFACTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await closeCodec?.();
  await dev?.stop();
});

async function uiContext(): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  // Runs in the page before the UI's scripts: the settings an operator would make in the UI's codec dialog.
  const settings = { endpoint: JSON.stringify(codecUrl), includeCredentials: 'true', passAccessToken: 'false', overrideRemoteCodecConfiguration: 'true' };
  await context.addInitScript({ content: `for (const [k, v] of Object.entries(${JSON.stringify(settings)})) localStorage.setItem(k, v);` });
  return context;
}

async function login(page: Page, tokenValue: string): Promise<void> {
  await page.goto(`${codecUrl}/login`);
  await page.fill('#token', tokenValue);
  await page.click('form[action="/login"] button[type="submit"]');
  await page.waitForSelector('text=Signed in as');
}

async function openWorkflow(page: Page): Promise<string> {
  await page.goto(`${dev.uiUrl}${workflowPath}`);
  await page.waitForSelector('text=ui-grant-1', { timeout: 30_000 });
  // The input card renders once the codec answered (or failed).
  await page.waitForFunction('/Input/i.test(document.body.innerText)', null, { timeout: 30_000 });
  return page.locator('body').innerText();
}

/**
 * The README's picture of the page, without the UI's "No workers polling" notice: no worker runs in
 * this test (none is needed to read a started workflow's input), and a warning about workers next to
 * the decoded input sent readers looking for a problem that is not there. Cropped to the tabs, the
 * input and the event history; the notice, when shown, must lie wholly above the crop.
 */
async function screenshotOfHistory(page: Page, file: string): Promise<void> {
  await page.getByText(/Workflow ?Execution ?Started/i).first().waitFor({ timeout: 30_000 });
  const tabs = (await page.getByText('Timeline', { exact: true }).first().boundingBox())!;
  const end = (await page.getByText(/Workflow ?Execution ?Started/i).first().boundingBox())!;
  const notice = page.getByText('No workers polling', { exact: true });
  const top = tabs.y - 16;
  if ((await notice.count()) > 0) {
    const box = (await notice.first().boundingBox())!;
    expect(box.y + box.height).toBeLessThan(top);
  }
  const left = tabs.x - 16;
  await page.screenshot({ path: file, clip: { x: left, y: top, width: page.viewportSize()!.width - left - 8, height: end.y + end.height + 80 - top } });
}

describe('the Temporal UI in a browser', () => {
  it('shows the decoded input to an operator signed in at the codec server', async () => {
    const context = await uiContext();
    const page = await context.newPage();
    await login(page, operator.value);
    await openWorkflow(page);
    const shown = await page
      .waitForFunction(`document.body.innerText.includes(${JSON.stringify(SECRET.token)})`, null, { timeout: 30_000 })
      .then(() => true)
      .catch(() => false);
    const text = await page.locator('body').innerText();
    expect(shown, `decoded input not shown; page text:\n${text.slice(0, 3000)}\naudit: ${JSON.stringify(audits().slice(-3))}`).toBe(true);
    expect(text).toContain(SECRET.email);
    await screenshotOfHistory(page, path.join(ARTIFACTS, 'ui-decoded.png'));
    expect(audits().some((a) => a.principal === 'operator' && a.via === 'session' && a.decision === 'allowed')).toBe(true);
    await context.close();
  });

  it('shows it sealed without a session, to an operator with no rule, and to one allowed other workflows only', async () => {
    for (const who of [undefined, outsider, tenantOps]) {
      const context = await uiContext();
      const page = await context.newPage();
      if (who) await login(page, who.value);
      const text = await openWorkflow(page);
      // Give the UI the time it needs to ask the codec server and render whatever came back.
      await page.waitForTimeout(1500);
      const after = await page.locator('body').innerText();
      if (who === tenantOps) await screenshotOfHistory(page, path.join(ARTIFACTS, 'ui-sealed.png'));
      for (const s of Object.values(SECRET)) {
        expect(text).not.toContain(s);
        expect(after).not.toContain(s);
      }
      await context.close();
    }
    // No session: 401; no rule for the namespace: 403 (the UI shows its "could not connect" banner);
    // a rule for other workflows: 200 with the payload left sealed (the UI shows the ciphertext).
    expect(audits().some((a) => a.principal === null && a.status === 401)).toBe(true);
    expect(audits().some((a) => a.principal === 'outsider' && a.status === 403)).toBe(true);
    expect(audits().some((a) => a.principal === 'tenant-ops' && a.status === 200 && a.decision === 'denied')).toBe(true);
  });
});

afterAll(() => {
  // Keep the README's screenshot current when asked to (it is committed; test-artifacts/ is not).
  if (process.env.TEMPORAL_ENVELOPE_UPDATE_SCREENSHOTS === '1') {
    for (const f of ['ui-decoded.png', 'ui-sealed.png']) copyFileSync(path.join(ARTIFACTS, f), path.join(REPO_ROOT, 'docs', 'images', f));
  }
});
