import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { REPO_ROOT } from './run-cli.js';

/**
 * Temporal's standalone UI server (github.com/temporalio/ui-server/v2, the UI embedded), built from
 * the Go module proxy by scripts/setup-test-deps.mjs into .tools/bin, on loopback and started and
 * stopped by the test that needs it. Unlike the dev server's embedded UI it takes an OIDC login and
 * the codec settings (`codec.passAccessToken`) from its config file. A missing binary is an error.
 */
export const UI_SERVER_BIN = process.env.TEMPORAL_ENVELOPE_TEST_UI_SERVER_BIN ?? path.join(REPO_ROOT, '.tools', 'bin', 'temporal-ui-server');
/** The version scripts/setup-test-deps.mjs builds (scripts/ui-server/go.mod); the binary reports it. */
export const UI_SERVER_VERSION = '2.58.1';

export interface UiServer {
  readonly url: string;
  /** The config file as the UI server read it. */
  readonly configYaml: string;
  /** What the UI server printed so far (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

/** `config` is the UI server's own YAML schema (server/config/config.go); host, port and gRPC address are set here. */
export async function startUiServer(options: { port: number; temporalAddress: string; config: Record<string, unknown>; readyTimeoutMs?: number }): Promise<UiServer> {
  if (!existsSync(UI_SERVER_BIN)) {
    throw new Error(`Temporal UI server not found at ${UI_SERVER_BIN}: run "node scripts/setup-test-deps.mjs" (npm test runs it as pretest; it needs Go)`);
  }
  const url = `http://127.0.0.1:${options.port}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'te-ui-server-'));
  const configYaml = YAML.stringify({ temporalGrpcAddress: options.temporalAddress, host: '127.0.0.1', port: options.port, ...options.config });
  // The server reads <root>/<config>/base.yaml then <env>.yaml; one file is enough.
  writeFileSync(path.join(dir, 'sso.yaml'), configYaml);
  const child = spawn(UI_SERVER_BIN, ['--root', dir, '--config', '.', '--env', 'sso', 'start'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, HOME: dir } });
  let output = '';
  const keep = (d: Buffer) => {
    if (output.length < 50_000) output += d.toString();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited: number | null | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code;
      resolve();
    }),
  );
  const stop = async () => {
    if (exited === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exited !== undefined) throw new Error(`temporal-ui-server exited with ${exited}:\n${output}`);
    const status = await fetch(`${url}/api/v1/settings`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`temporal-ui-server at ${url} not ready (last status ${status}):\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, configYaml, output: () => output, stop };
}
