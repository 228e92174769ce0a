import { randomBytes } from 'node:crypto';
import { loadConfig } from '../config/load.js';
import { startPrimary } from './cluster.js';
import { printDevToken, publicUrlOf, type ServeOptions } from './serve.js';

/**
 * `serve --workers N` (N > 1), in the primary: check the config before forking (a bad field fails
 * here, once, naming it), generate what every worker must share (the dev token, a session secret
 * when none is configured), fork the workers (cluster.ts) and return once one listens. The workers
 * run the same command and call serve() themselves.
 */
export async function serveClustered(options: ServeOptions & { workers: number }): Promise<{ url: string; close(): Promise<void> }> {
  const env = options.env ?? process.env;
  const print = options.print ?? ((line: string) => process.stderr.write(`${line}\n`));
  const config = loadConfig({
    file: options.configPath,
    env,
    overrides: { server: { ...(options.host !== undefined ? { host: options.host } : {}), ...(options.port !== undefined ? { port: options.port } : {}) } },
  });
  const shared: Record<string, string> = {};
  const devToken = options.configPath === undefined && !env.TEMPORAL_ENVELOPE_DEV_TOKEN ? `te_dev_${randomBytes(24).toString('base64url')}` : undefined;
  if (devToken !== undefined) shared.TEMPORAL_ENVELOPE_DEV_TOKEN = devToken;
  // Without a configured secret each process would pick its own, and a cookie one worker signed
  // would fail on the next: one random secret for all of them (sessions still end on restart).
  if (config.auth.session.secret === undefined) shared.TEMPORAL_ENVELOPE_SESSION_SECRET = randomBytes(32).toString('base64');
  const primary = startPrimary({ workers: options.workers, env: shared, log: print });
  const url = await primary.url;
  if (devToken !== undefined) printDevToken(print, devToken, publicUrlOf(url, config.server.host));
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= primary.close());
  if (options.handleSignals !== false) {
    const onSignal = () =>
      close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  return { url, close };
}
