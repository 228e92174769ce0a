import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './run-cli.js';
import { loopbackPort } from './temporal-dev.js';

/**
 * moto's AWS-compatible endpoint on loopback (KMS and DynamoDB; the binary scripts/setup-test-deps.mjs
 * puts in .venv/bin), started and stopped by the test. A missing binary is an error, never a skip.
 * `pause()` freezes the process (SIGSTOP): connections open and nothing answers, an outage that
 * keeps moto's in-memory data for `resume()`, where a restart would lose it.
 *
 * `serial: true` serves one request at a time. DynamoDB makes each request atomic (a conditional
 * write, a transaction); moto's threaded server does not: its TransactWriteItems deep-copies the
 * table first and puts that copy back when the transaction is cancelled, erasing whatever other
 * threads wrote meanwhile, and its conditional PutItem checks and writes without a lock. Tests of
 * concurrent writers need DynamoDB's atomicity, which one request at a time gives.
 */
export const MOTO_BIN = process.env.TEMPORAL_ENVELOPE_TEST_MOTO_BIN ?? path.join(REPO_ROOT, '.venv', 'bin', 'moto_server');

export interface Moto {
  readonly endpoint: string;
  pause(): void;
  resume(): void;
  /** moto's process id (the workflow benchmark reads its CPU time from /proc). */
  readonly pid: number;
  stop(): Promise<void>;
}

// moto_server's own main() with threaded=False (it hard-codes True).
const SERIAL_MOTO = `
import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
run_simple('127.0.0.1', int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False, request_handler=MotoRequestHandler)
`;

export async function startMoto(options: { serial?: boolean } = {}): Promise<Moto> {
  if (!existsSync(MOTO_BIN)) throw new Error(`moto_server not found at ${MOTO_BIN}: run "node scripts/setup-test-deps.mjs" (npm test runs it as pretest)`);
  const port = await loopbackPort();
  const child = options.serial
    ? spawn(path.join(path.dirname(MOTO_BIN), 'python'), ['-c', SERIAL_MOTO, String(port)], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MOTO_PORT: String(port) } })
    : spawn(MOTO_BIN, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
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
    child.kill('SIGCONT'); // a paused process would not act on SIGTERM
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
      if (res.status < 500) return { endpoint, pid: child.pid!, stop, pause: () => child.kill('SIGSTOP'), resume: () => child.kill('SIGCONT') };
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
