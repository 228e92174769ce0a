import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { InvalidConfigError, describeIssues } from '../../primitives/errors.js';
import { parseShredStoreLocation } from '../../keys/shred-store-options.js';
import { configSchema, type ConfigInput, type ServerConfig } from './schema.js';

/**
 * Environment variables that override the file, for containers and twelve-factor deploys. Each maps
 * to one config path; values are parsed to the type that path expects.
 */
export const ENV_OVERRIDES: Record<string, { path: string[]; type: 'string' | 'int' | 'bool' | 'list' | 'trust' | 'shredStore' }> = {
  TEMPORAL_ENVELOPE_HOST: { path: ['server', 'host'], type: 'string' },
  TEMPORAL_ENVELOPE_PORT: { path: ['server', 'port'], type: 'int' },
  TEMPORAL_ENVELOPE_TRUST_PROXY: { path: ['server', 'trustProxy'], type: 'trust' },
  TEMPORAL_ENVELOPE_TLS_CERT_FILE: { path: ['server', 'tls', 'certFile'], type: 'string' },
  TEMPORAL_ENVELOPE_TLS_KEY_FILE: { path: ['server', 'tls', 'keyFile'], type: 'string' },
  TEMPORAL_ENVELOPE_CORS_ORIGINS: { path: ['cors', 'origins'], type: 'list' },
  TEMPORAL_ENVELOPE_SESSION_SECRET: { path: ['auth', 'session', 'secret'], type: 'string' },
  TEMPORAL_ENVELOPE_KEY_PROVIDER: { path: ['keys', 'provider'], type: 'string' },
  TEMPORAL_ENVELOPE_KEYRING: { path: ['keys', 'local', 'path'], type: 'string' },
  TEMPORAL_ENVELOPE_KMS_KEY_CONFIG: { path: ['keys', 'awsKms', 'keyConfigFile'], type: 'string' },
  TEMPORAL_ENVELOPE_KMS_ENDPOINT: { path: ['keys', 'awsKms', 'endpoint'], type: 'string' },
  TEMPORAL_ENVELOPE_KMS_REGION: { path: ['keys', 'awsKms', 'region'], type: 'string' },
  // A directory, dynamodb://<table>?region=…, or postgres://… (keys/shred-store-options.ts).
  TEMPORAL_ENVELOPE_SHRED_STORE: { path: ['keys', 'shredStore'], type: 'shredStore' },
  TEMPORAL_ENVELOPE_KEY_HIERARCHY: { path: ['codec', 'keyHierarchy'], type: 'string' },
  TEMPORAL_ENVELOPE_LEGACY_KEYS: { path: ['keys', 'legacyKeys', 'path'], type: 'string' },
  // The CLI's names for the same settings (src/cli/options.ts), so one environment serves both.
  TEMPORAL_ENVELOPE_PROVIDER: { path: ['keys', 'provider'], type: 'string' },
  TEMPORAL_ENVELOPE_KEY_CONFIG: { path: ['keys', 'awsKms', 'keyConfigFile'], type: 'string' },
  TEMPORAL_ENVELOPE_LOG_LEVEL: { path: ['log', 'level'], type: 'string' },
  TEMPORAL_ENVELOPE_LOG_PRETTY: { path: ['log', 'pretty'], type: 'bool' },
};

export interface LoadConfigOptions {
  /** YAML or JSON file. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Beneath the file and the environment (dev mode's settings, which TEMPORAL_ENVELOPE_* may change). */
  defaults?: ConfigInput;
  /** Applied last (CLI flags such as --port). */
  overrides?: ConfigInput;
}

export function loadConfig(options: LoadConfigOptions = {}): Readonly<ServerConfig> {
  let raw: Record<string, unknown> = {};
  const defaults = options.defaults === undefined ? {} : (structuredClone(options.defaults) as Record<string, unknown>);
  const source = options.file ?? '(defaults)';
  if (options.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (cause) {
      throw new InvalidConfigError(`config ${options.file} cannot be read: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`, { cause });
    }
    try {
      raw = (YAML.parse(text) as Record<string, unknown> | null) ?? {};
    } catch (cause) {
      throw new InvalidConfigError(`config ${options.file} is not valid YAML/JSON: ${(cause as Error).message.split('\n')[0]}`, { cause });
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new InvalidConfigError(`config ${options.file}: expected a mapping at the top level`);
  }
  deepMerge(defaults, raw);
  raw = defaults;
  applyEnv(raw, options.env ?? {});
  if (options.overrides) deepMerge(raw, options.overrides as Record<string, unknown>);
  return validateConfig(raw, source);
}

export function validateConfig(raw: unknown, source = '(inline)'): Readonly<ServerConfig> {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new InvalidConfigError(`config ${source}: ${describeIssues(result.error.issues)}`);
  }
  return deepFreeze(result.data);
}

function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  for (const [name, spec] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    let parsed: unknown = value;
    if (spec.type === 'int') {
      if (!/^\d+$/.test(value)) throw new InvalidConfigError(`config env ${name}: expected a whole number, got ${JSON.stringify(value)}`);
      parsed = Number(value);
    } else if (spec.type === 'bool') {
      if (!/^(true|false|1|0)$/.test(value)) throw new InvalidConfigError(`config env ${name}: expected true or false, got ${JSON.stringify(value)}`);
      parsed = value === 'true' || value === '1';
    } else if (spec.type === 'list') {
      parsed = value.split(',').map((s) => s.trim()).filter(Boolean);
    } else if (spec.type === 'trust') {
      parsed = value === 'true' ? true : value === 'false' ? false : /^\d+$/.test(value) ? Number(value) : value;
    } else if (spec.type === 'shredStore') {
      parsed = shredStoreFromEnv(name, value, env, getPath(raw, spec.path));
    }
    setPath(raw, spec.path, parsed);
  }
}

/**
 * The store the variable names, keeping the file's other settings of a store of the same kind (its
 * watchIntervalMs, a poolSize): the variable says where, the file may still say how.
 */
function shredStoreFromEnv(name: string, value: string, env: NodeJS.ProcessEnv, inFile: unknown): Record<string, unknown> {
  let store: Record<string, unknown>;
  try {
    store = parseShredStoreLocation(value, { region: env.AWS_REGION || env.AWS_DEFAULT_REGION });
  } catch (cause) {
    throw new InvalidConfigError(`config env ${name}: ${(cause as Error).message}`, { cause });
  }
  const file = typeof inFile === 'object' && inFile !== null ? (inFile as Record<string, unknown>) : undefined;
  const sameKind = file !== undefined && (file.type ?? 'file') === store.type;
  if (!sameKind) return store;
  // The location's fields replace the file's: a connectionString from the variable drops a connectionStringFile.
  const { path: _p, table: _t, region: _r, endpoint: _e, connectionString: _c, connectionStringFile: _f, ...how } = file;
  return { ...how, ...store };
}

function getPath(obj: Record<string, unknown>, path: string[]): unknown {
  let cur: unknown = obj;
  for (const key of path) cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[key] : undefined;
  return cur;
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    if (typeof cur[key] !== 'object' || cur[key] === null) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

function deepMerge(into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(from)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && typeof into[k] === 'object' && into[k] !== null) {
      deepMerge(into[k] as Record<string, unknown>, v as Record<string, unknown>);
    } else if (v !== undefined) {
      into[k] = v;
    }
  }
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
