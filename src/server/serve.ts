import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InvalidConfigError } from '../../primitives/errors.js';
import { openKeyProviders } from '../../keys/assemble.js';
import { FileScopeSecretStore } from '../../keys/shred-store.js';
import { keyProvidersOptions } from '../config/key-providers.js';
import { loadConfig } from '../config/load.js';
import type { ConfigInput, ServerConfig } from '../config/schema.js';
import { sha256Hex } from '../config/token-hash.js';
import { createLogger } from './audit.js';
import { buildServer, type CodecServer } from './build-server.js';
import { clusterPeer } from './cluster.js';

export interface ServeOptions {
  /** YAML/JSON config. Without one the server runs in dev mode (see below). */
  configPath?: string;
  host?: string;
  port?: number;
  env?: NodeJS.ProcessEnv;
  /** Where the one-time dev token is printed. Default stderr. */
  print?: (line: string) => void;
  /** Install SIGTERM/SIGINT handlers. Default true. */
  handleSignals?: boolean;
}

export interface RunningServer extends CodecServer {
  url: string;
  config: Readonly<ServerConfig>;
  close(): Promise<void>;
}

/**
 * Dev mode (no config file): the local keyring (created if missing), loopback only, CORS for the dev server's UI on
 * :8233, and one random dev token (printed once, kept only hashed) allowed to decode and encode in
 * every namespace. A config file turns all of that off: nothing is allowed unless its policy says so.
 */
const DEV_DEFAULTS: ConfigInput = {
  cors: { origins: ['http://localhost:8233', 'http://127.0.0.1:8233'] },
  policy: { rules: [{ principals: ['dev'], namespaces: ['*'], actions: ['decode', 'encode'] }] },
};

/** The dev token, shown once (by the primary under `serve --workers`). */
export function printDevToken(print: (line: string) => void, devToken: string, config: Readonly<ServerConfig>): void {
  print(`temporal-envelope: dev mode. Dev token (shown once, not stored): ${devToken}`);
  print(`temporal-envelope: try  curl -s -X POST -H "Authorization: Bearer ${devToken}" -H "Content-Type: application/json" -H "X-Namespace: default" -d '{"payloads":[]}' http://${config.server.host}:${config.server.port}/decode`);
}

export async function serve(options: ServeOptions = {}): Promise<RunningServer> {
  const env = options.env ?? process.env;
  const print = options.print ?? ((line: string) => process.stderr.write(`${line}\n`));
  const devMode = options.configPath === undefined;
  const overrides: ConfigInput = {
    ...(devMode ? DEV_DEFAULTS : {}),
    server: { ...(options.host !== undefined ? { host: options.host } : {}), ...(options.port !== undefined ? { port: options.port } : {}) },
  };
  const config = loadConfig({ file: options.configPath, env, overrides });
  const logger = createLogger({ level: config.log.level, pretty: config.log.pretty ?? Boolean(process.stdout.isTTY) });

  let extraTokens: { principal: string; sha256: string; groups: string[] }[] = [];
  if (devMode) {
    const devToken = env.TEMPORAL_ENVELOPE_DEV_TOKEN || `te_dev_${randomBytes(24).toString('base64url')}`;
    extraTokens = [{ principal: 'dev', sha256: `sha256:${sha256Hex(devToken)}`, groups: [] }];
    if (!env.TEMPORAL_ENVELOPE_DEV_TOKEN) printDevToken(print, devToken, config);
  }

  let https: { cert: Buffer; key: Buffer } | undefined;
  if (config.server.tls) {
    try {
      https = { cert: readFileSync(config.server.tls.certFile), key: readFileSync(config.server.tls.keyFile) };
    } catch (cause) {
      throw new InvalidConfigError(`config server.tls: cannot read certificate or key (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, { cause });
    }
  }
  const shredStore = config.keys.shredStore === undefined ? undefined : new FileScopeSecretStore(config.keys.shredStore.path);
  const keyOptions = keyProvidersOptions(config.keys);
  // Only dev mode creates a keyring: with a config file, a missing one is an error naming the path.
  const keyProvider = await openKeyProviders({ ...keyOptions, local: { ...keyOptions.local, create: devMode }, shredStore, warn: (m) => logger.warn(m) });
  let server: CodecServer;
  let address: string;
  try {
    server = await buildServer(config, {
      keyProvider,
      logger,
      extraTokens,
      ...(https ? { https } : {}),
      ...(shredStore ? { shreds: { store: shredStore, watchIntervalMs: config.keys.shredStore!.watchIntervalMs } } : {}),
    });
    address = await server.app.listen({ host: config.server.host, port: config.server.port });
  } catch (err) {
    await keyProvider.close?.();
    throw err;
  }
  const url = address.replace('[::1]', 'localhost');
  clusterPeer()?.listening(url);
  logger.info({ url, provider: keyProvider.name, primaryKeyId: keyProvider.primaryKeyId(), devMode }, 'codec server listening');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // fastify's close() stops accepting and waits for in-flight requests to finish.
      const force = setTimeout(() => server.app.server.closeAllConnections(), config.server.shutdownGraceMs);
      force.unref();
      await server.app.close();
      clearTimeout(force);
      await keyProvider.close?.();
      logger.info('codec server stopped');
      logger.flush?.();
    })());

  if (options.handleSignals !== false) {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'shutting down');
      close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  return { ...server, url, config, close };
}
