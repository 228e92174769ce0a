import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './run-cli.js';
import { loopbackPort } from './temporal-dev.js';

/**
 * moto's AWS-compatible KMS endpoint on loopback (the binary scripts/setup-test-deps.mjs puts in
 * .venv/bin), started and stopped by the test. A missing binary is an error, never a skip.
 */
export const MOTO_BIN = process.env.TEMPORAL_ENVELOPE_TEST_MOTO_BIN ?? path.join(REPO_ROOT, '.venv', 'bin', 'moto_server');

export interface Moto {
  readonly endpoint: string;
  /** moto's process id (the workflow benchmark reads its CPU time from /proc). */
  readonly pid: number;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<Moto> {
  if (!existsSync(MOTO_BIN)) throw new Error(`moto_server not found at ${MOTO_BIN}: run "node scripts/setup-test-deps.mjs" (npm test runs it as pretest)`);
  const port = await loopbackPort();
  const child = spawn(MOTO_BIN, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 20_000) stderr += d;
  });
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (exited !== undefined) return;
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`moto_server exited with ${exited}: ${stderr}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      if (res.status < 500) return { endpoint, pid: child.pid!, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`moto_server at ${endpoint} not ready: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
