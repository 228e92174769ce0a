import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InvalidConfigError } from '../../primitives/errors.js';
import { openKeyProviders } from '../../keys/assemble.js';
import { openScopeSecretStore } from '../../keys/shred-store-options.js';
import { keyProvidersOptions, shredStoreOptions } from '../config/key-providers.js';
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
  /** Overrides the config's codec.keyHierarchy (the CLI's --key-hierarchy). */
  keyHierarchy?: 'per-workflow' | 'branch';
  env?: NodeJS.ProcessEnv;
  /** Where the one-time dev token is printed. Default stderr. */
  print?: (line: string) => void;
  /** Install SIGTERM/SIGINT handlers. Default true. */
  handleSignals?: boolean;
}

export interface RunningServer extends CodecServer {
  /** The address it listens on, as a URL (what a client on this machine connects to). */
  url: string;
  /**
   * The URL to give people: `localhost` when the server listens on a loopback address. Browsers
   * keep cookies per host name, so the /login page and the UI's codec endpoint must use the same
   * one, and the dev server's UI is http://localhost:8233: one host name throughout.
   */
  publicUrl: string;
  config: Readonly<ServerConfig>;
  close(): Promise<void>;
}

/**
 * Dev mode (no config file): the local keyring (created if missing), loopback only, CORS for the dev
 * server's UI at http://localhost:8233 (the address `temporal server start-dev` prints), and one
 * random dev token (printed once, kept only hashed) allowed to decode and encode in every namespace.
 * One host name throughout, localhost: the URLs printed, the CORS origin, the login page; a UI on
 * 127.0.0.1 would call another site and never send the session cookie set on localhost.
 * TEMPORAL_ENVELOPE_* variables may change these (a UI on another port:
 * TEMPORAL_ENVELOPE_CORS_ORIGINS). A config file turns all of it off: nothing is allowed unless its
 * policy says so.
 */
const DEV_DEFAULTS: ConfigInput = {
  cors: { origins: ['http://localhost:8233'] },
  policy: { rules: [{ principals: ['dev'], namespaces: ['*'], actions: ['decode', 'encode'] }] },
};

/**
 * The dev token, shown once, and only once the server listens (by the primary under `serve
 * --workers`): a token printed for a server that then failed to start (port in use, a bad keyring)
 * would send the operator to a server that is not there.
 */
export function printDevToken(print: (line: string) => void, devToken: string, publicUrl: string): void {
  print(`temporal-envelope: dev mode. Dev token (shown once, not stored): ${devToken}`);
  print(`temporal-envelope: Temporal UI: sign in at ${publicUrl}/login with it; temporal CLI: --codec-endpoint ${publicUrl} --codec-auth "Bearer ${devToken}"`);
  print(`temporal-envelope: try  curl -s -X POST -H "Authorization: Bearer ${devToken}" -H "Content-Type: application/json" -H "X-Namespace: default" -d '{"payloads":[]}' ${publicUrl}/decode`);
}

/** The URL to give people: `localhost` for a loopback address, one host name throughout (see DEV_DEFAULTS). */
export function publicUrlOf(url: string, host: string): string {
  return LOOPBACK.has(host) ? url.replace(/^(https?:\/\/)[^/]*(:\d+)$/, '$1localhost$2') : url;
}

export async function serve(options: ServeOptions = {}): Promise<RunningServer> {
  const env = options.env ?? process.env;
  const print = options.print ?? ((line: string) => process.stderr.write(`${line}\n`));
  const devMode = options.configPath === undefined;
  const overrides: ConfigInput = {
    server: { ...(options.host !== undefined ? { host: options.host } : {}), ...(options.port !== undefined ? { port: options.port } : {}) },
    ...(options.keyHierarchy !== undefined ? { codec: { keyHierarchy: options.keyHierarchy } } : {}),
  };
  const config = loadConfig({ file: options.configPath, env, overrides, ...(devMode ? { defaults: DEV_DEFAULTS } : {}) });
  const logger = createLogger({ level: config.log.level, pretty: config.log.pretty ?? Boolean(process.stdout.isTTY) });

  let extraTokens: { principal: string; sha256: string; groups: string[] }[] = [];
  const devToken = devMode ? env.TEMPORAL_ENVELOPE_DEV_TOKEN || `te_dev_${randomBytes(24).toString('base64url')}` : undefined;
  if (devToken !== undefined) extraTokens = [{ principal: 'dev', sha256: `sha256:${sha256Hex(devToken)}`, groups: [] }];

  let https: { cert: Buffer; key: Buffer } | undefined;
  if (config.server.tls) {
    try {
      https = { cert: readFileSync(config.server.tls.certFile), key: readFileSync(config.server.tls.keyFile) };
    } catch (cause) {
      throw new InvalidConfigError(`config server.tls: cannot read certificate or key (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, { cause });
    }
  }
  const warn = (m: string) => logger.warn(m);
  // Opened here rather than by openKeyProviders: the server also watches it for shreds.
  const storeOptions = shredStoreOptions(config.keys);
  const shredStore = storeOptions === undefined ? undefined : await openScopeSecretStore(storeOptions, { warn });
  const keyOptions = keyProvidersOptions(config.keys);
  let keyProvider;
  try {
    // Only dev mode creates a keyring: with a config file, a missing one is an error naming the path.
    keyProvider = await openKeyProviders({ ...keyOptions, local: { ...keyOptions.local, create: devMode }, shredStore, warn });
  } catch (err) {
    await shredStore?.close?.();
    throw err;
  }
  let server: CodecServer | undefined;
  let address: string;
  try {
    server = await buildServer(config, {
      keyProvider,
      logger,
      extraTokens,
      ...(https ? { https } : {}),
      ...(shredStore ? { shreds: { store: shredStore, watchIntervalMs: config.keys.shredStore!.watchIntervalMs } } : {}),
    });
    address = await server.app.listen({ host: config.server.host, port: config.server.port }).catch((err: unknown) => {
      throw listenError(err, config.server.host, config.server.port);
    });
  } catch (err) {
    // The app holds the shred watcher and timers; closing it lets the process end on the error.
    await server?.app.close().catch(() => undefined);
    await keyProvider.close?.();
    await shredStore?.close?.();
    throw err;
  }
  const running = server;
  const url = address.replace('[::1]', 'localhost');
  const publicUrl = publicUrlOf(url, config.server.host);
  clusterPeer()?.listening(url);
  logger.info({ url: publicUrl, provider: keyProvider.name, primaryKeyId: keyProvider.primaryKeyId(), devMode }, 'codec server listening');
  if (devToken !== undefined && !env.TEMPORAL_ENVELOPE_DEV_TOKEN) printDevToken(print, devToken, publicUrl);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // fastify's close() stops accepting and waits for in-flight requests to finish.
      const force = setTimeout(() => running.app.server.closeAllConnections(), config.server.shutdownGraceMs);
      force.unref();
      await running.app.close();
      clearTimeout(force);
      await keyProvider.close?.();
      await shredStore?.close?.();
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
  return { ...running, url, publicUrl, config, close };
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** The few reasons a listen fails, said as what to change; anything else as it came. */
function listenError(err: unknown, host: string, port: number): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (code === 'EADDRINUSE') return new InvalidConfigError(`config server.port: ${where} is already in use; stop what listens there or choose another port (--port, TEMPORAL_ENVELOPE_PORT)`, { cause: err });
  if (code === 'EACCES') return new InvalidConfigError(`config server.port: not allowed to listen on ${where} (EACCES; ports below 1024 need privileges): choose another port (--port, TEMPORAL_ENVELOPE_PORT)`, { cause: err });
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return new InvalidConfigError(`config server.host: ${host} is not an address of this machine (${code}); use 127.0.0.1 for loopback or 0.0.0.0 for every interface (--host, TEMPORAL_ENVELOPE_HOST)`, { cause: err });
  return err;
}
