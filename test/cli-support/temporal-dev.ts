import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { REPO_ROOT } from './run-cli.js';

/**
 * A real Temporal dev server (`temporal server start-dev`, the binary scripts/setup-test-deps.mjs
 * puts in .venv/bin) on loopback, started and stopped by the test that needs it. A missing binary
 * is an error, never a skip.
 */
export interface DevServer {
  readonly address: string;
  readonly port: number;
  /** The embedded Web UI, when started with `ui`. */
  readonly uiUrl?: string;
  /** The server's process id (the workflow benchmark reads its CPU time from /proc). */
  readonly pid: number;
  stop(): Promise<void>;
}

export const TEMPORAL_BIN = process.env.TEMPORAL_ENVELOPE_TEST_TEMPORAL_BIN ?? path.join(REPO_ROOT, '.venv', 'bin', 'temporal');

export async function loopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function startDevServer(
  options: { namespaces?: readonly string[]; readyTimeoutMs?: number; ui?: { codecEndpoint?: string } } = {},
): Promise<DevServer> {
  if (!existsSync(TEMPORAL_BIN)) {
    throw new Error(`Temporal CLI not found at ${TEMPORAL_BIN}: run "node scripts/setup-test-deps.mjs" (npm test runs it as pretest)`);
  }
  const port = await loopbackPort();
  const uiPort = options.ui ? await loopbackPort() : undefined;
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'error'];
  if (uiPort === undefined) args.push('--headless');
  else {
    args.push('--ui-ip', '127.0.0.1', '--ui-port', String(uiPort), '--ui-disable-news-fetch');
    if (options.ui?.codecEndpoint) args.push('--ui-codec-endpoint', options.ui.codecEndpoint);
  }
  for (const ns of options.namespaces ?? []) args.push('--namespace', ns);
  const child: ChildProcess = spawn(TEMPORAL_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 20_000) stderr += d;
  });
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  const address = `127.0.0.1:${port}`;
  const stop = async () => {
    if (exited !== undefined) return;
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(timer);
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 90_000);
  for (;;) {
    if (exited !== undefined) throw new Error(`temporal server start-dev exited with ${exited}: ${stderr}`);
    try {
      const conn = await Connection.connect({ address, connectTimeout: '2s' });
      try {
        await conn.workflowService.describeNamespace({ namespace: 'default' });
        for (const ns of options.namespaces ?? []) await conn.workflowService.describeNamespace({ namespace: ns });
        if (uiPort !== undefined) {
          const uiUrl = `http://127.0.0.1:${uiPort}`;
          const res = await fetch(`${uiUrl}/api/v1/settings`);
          if (!res.ok) throw new Error(`UI not ready: ${res.status}`);
          return { address, port, uiUrl, pid: child.pid!, stop };
        }
        return { address, port, pid: child.pid!, stop };
      } finally {
        await conn.close();
      }
    } catch (err) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`temporal dev server at ${address} not ready: ${(err as Error).message}\n${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
