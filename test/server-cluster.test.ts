import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyring } from '../keys/index.js';
import { sha256Hex } from '../src/config/token-hash.js';
import { REPO_ROOT } from './cli-support/run-cli.js';

/**
 * `serve --workers 2`, run as users run it (the CLI in its own process). Every request goes on a
 * new connection, which node:cluster hands to the workers in turn, so state that lived in one
 * process must now hold across two: the failed-auth throttle, the rate limit, sessions and
 * sign-outs.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'te-cluster-'));
const tokens = { ops: `ops_${randomBytes(18).toString('base64url')}`, limited: `lim_${randomBytes(18).toString('base64url')}` };
const RATE_MAX = 6;
const FAILED_MAX = 4;
let child: ChildProcess;
let url: string;

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request on its own connection (agent: false), so consecutive requests reach different workers. */
function send(route: string, headers: Record<string, string>, body: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${route}`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const decode = (headers: Record<string, string>) => send('/decode', headers, '{"payloads":[]}');
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

beforeAll(async () => {
  const keyring = path.join(dir, 'keyring.json');
  await createKeyring(keyring);
  const config = {
    server: { host: '127.0.0.1', port: 0 },
    keys: { provider: 'local', local: { path: keyring } },
    auth: {
      staticTokens: [
        { principal: 'ops', sha256: `sha256:${sha256Hex(tokens.ops)}`, groups: [] },
        { principal: 'limited', sha256: `sha256:${sha256Hex(tokens.limited)}`, groups: [] },
      ],
    },
    policy: { rules: [{ principals: ['ops', 'limited'], namespaces: ['default'], actions: ['decode'] }] },
    rateLimit: { max: RATE_MAX, windowMs: 600_000, failedAuth: { max: FAILED_MAX, windowMs: 600_000 } },
    log: { level: 'info', pretty: false },
  };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_')));
  child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'serve', '--workers', '2', '--config', path.join(dir, 'config.json')], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  // Both workers log that they listen; the primary prints the URL once.
  url = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on (http:\/\/\S+) \(2 workers\)/.exec(out);
      if (m && (out.match(/"msg":"codec server listening"/g) ?? []).length === 2) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`serve --workers 2 exited with ${code}\n${out}\n${err}`)));
    setTimeout(() => reject(new Error(`serve --workers 2 did not start two workers\n${out}\n${err}`)), 90_000).unref();
  });
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('serve --workers 2', () => {
  it('decodes through either worker', async () => {
    // Two, not more: 'ops' has RATE_MAX counted requests for this whole file (two here, three below).
    for (let i = 0; i < 2; i++) expect((await decode(bearer(tokens.ops))).status).toBe(200);
  });

  it('applies the rate limit once across workers, not once per worker', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < RATE_MAX + 2; i++) statuses.push((await decode(bearer(tokens.limited))).status);
    expect(statuses).toEqual([...Array<number>(RATE_MAX).fill(200), 429, 429]);
  });

  it('a session made by one worker is valid on the other, and a sign-out on one ends it on both', async () => {
    const login = await send('/login', {}, JSON.stringify({ token: tokens.ops }));
    expect(login.status).toBe(200);
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    for (let i = 0; i < 3; i++) expect((await decode({ cookie })).status).toBe(200);
    expect((await send('/logout', { cookie }, '{}')).status).toBe(200);
    // The sign-out travels through the primary; give it a moment, then every worker refuses.
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 4; i++) expect((await decode({ cookie })).status).toBe(401);
  });

  // Last: it locks this address out for the rest of the window.
  it('counts failed authentication over all workers, then refuses the address on every worker', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < FAILED_MAX; i++) {
      statuses.push((await decode(bearer(`wrong_${i}`))).status);
      await new Promise((r) => setTimeout(r, 50)); // the window travels back from the primary
    }
    expect(statuses).toEqual(Array<number>(FAILED_MAX).fill(401));
    for (let i = 0; i < 4; i++) expect((await decode(bearer(tokens.ops))).status).toBe(429);
  });
});
