import { spawn } from 'node:child_process';
import https from 'node:https';
import path from 'node:path';
import { REPO_ROOT } from './run-cli.js';

/**
 * `temporal-envelope serve --config <file>` as a real subprocess (node + tsx, as `npm start`), its
 * stdout (one JSON line per request: the audit log) kept for assertions. Stopped with SIGTERM.
 */
export interface CodecServerProcess {
  /** Every JSON line printed so far. */
  lines(): Record<string, unknown>[];
  audits(): Record<string, unknown>[];
  /** Everything printed, raw, for leak checks and failure messages. */
  output(): string;
  stop(): Promise<number | null>;
}

export async function startCodecServer(options: { configPath: string; url: string; ca: string; home: string; readyTimeoutMs?: number }): Promise<CodecServerProcess> {
  const main = path.join(REPO_ROOT, 'src', 'cli', 'main.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'serve', '--config', options.configPath], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: options.home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      resolve(code);
    }),
  );
  const lines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const stop = async () => {
    if (exitCode === undefined) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exitCode !== undefined) throw new Error(`temporal-envelope serve exited with ${exitCode}:\n${out}`);
    const res = await httpsRequest(`${options.url}/readyz`, { ca: options.ca }).catch(() => undefined);
    if (res?.status === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`codec server at ${options.url} not ready:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    lines,
    audits: () => lines().flatMap((l) => (l.audit ? [l.audit as Record<string, unknown>] : [])),
    output: () => out,
    stop,
  };
}

/** One HTTPS request trusting only `ca` (node's fetch has no per-request CA). */
export function httpsRequest(url: string, options: { ca: string; method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: options.method ?? 'GET', headers: options.headers, ca: options.ca, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: timed out`)));
    req.on('error', reject);
    req.end(options.body);
  });
}
