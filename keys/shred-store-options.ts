import path from 'node:path';
import { z } from 'zod';
import { InvalidConfigError, describeIssues } from '../primitives/errors.js';
import { FileScopeSecretStore, type ScopeSecretStore } from './shred-store.js';

/**
 * Which shred store, said the same way by a worker's code, the codec server's config and the CLI:
 *
 *   { type: 'file', path }                       a directory every process shares (one host, or a shared volume)
 *   { type: 'dynamodb', table, region, endpoint? } one DynamoDB table
 *   { type: 'postgres', connectionString | connectionStringFile, schema?, poolSize? }
 *
 * `{ path }` without a type is the file store (the form before there were others). As one string
 * (the CLI's --shred-store, TEMPORAL_ENVELOPE_SHRED_STORE): a directory, `dynamodb://<table>?region=…
 * [&endpoint=…]`, or `postgres://…` / `postgresql://…` (a libpq URL, plus `schema=` and `poolSize=`,
 * which are ours and removed before the URL reaches the driver).
 */
const positiveInt = z.number().int().positive();

export const fileShredStoreSchema = z.object({ type: z.literal('file'), path: z.string().min(1) }).strict();

export const dynamoDbShredStoreSchema = z
  .object({
    type: z.literal('dynamodb'),
    table: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, 'expected a DynamoDB table name: 3-255 of A-Z a-z 0-9 _ . -'),
    region: z.string().min(1),
    endpoint: z.url().optional(),
    /** Per store operation, the SDK's retries included. Default 3000 ms. */
    requestTimeoutMs: positiveInt.optional(),
  })
  .strict();

export const postgresShredStoreSchema = z
  .object({
    type: z.literal('postgres'),
    connectionString: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// or postgresql:// URL').optional(),
    connectionStringFile: z.string().min(1).optional(),
    schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'expected a lowercase SQL identifier: a-z, 0-9, _ (at most 63)').optional(),
    poolSize: z.number().int().min(1).max(100).optional(),
    /** Per query, and for taking a connection. Default 3000 ms. */
    requestTimeoutMs: positiveInt.optional(),
  })
  .strict();

/** The one rule the variants' shapes cannot say: a PostgreSQL store needs its URL one way, exactly. */
export function checkShredStore(store: { type: string; connectionString?: unknown; connectionStringFile?: unknown }, ctx: z.RefinementCtx, at: PropertyKey[] = []): void {
  if (store.type === 'postgres' && (store.connectionString === undefined) === (store.connectionStringFile === undefined)) {
    ctx.addIssue({ code: 'custom', path: [...at, 'connectionString'], message: 'a postgres shred store needs exactly one of "connectionString" and "connectionStringFile"' });
  }
}

/** No `type` means the file store (`{ path }`, the form from before there were others). */
export function withFileDefault(value: unknown): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !('type' in value) ? { type: 'file', ...value } : value;
}

export const shredStoreOptionsSchema = z.preprocess(withFileDefault, z.discriminatedUnion('type', [fileShredStoreSchema, dynamoDbShredStoreSchema, postgresShredStoreSchema]).superRefine((s, ctx) => checkShredStore(s, ctx)));

export type ShredStoreOptions = z.infer<typeof shredStoreOptionsSchema>;
export type ShredStoreInput = ShredStoreOptions | { type?: undefined; path: string };

/** Checked options, or INVALID_CONFIG naming every bad field (`shredStore.table: …`). */
export function validateShredStoreOptions(options: unknown): ShredStoreOptions {
  const result = shredStoreOptionsSchema.safeParse(options);
  if (!result.success) throw new InvalidConfigError(describeIssues(result.error.issues.map((i) => ({ ...i, path: ['shredStore', ...i.path] }))));
  return result.data;
}

/**
 * A store location as one string: a directory, `dynamodb://table?region=…&endpoint=…`, or a
 * postgres URL. `defaults.region` (e.g. AWS_REGION) fills in a DynamoDB region the URL leaves out.
 */
export function parseShredStoreLocation(location: string, defaults: { region?: string | undefined } = {}): ShredStoreOptions {
  if (location === '') throw new InvalidConfigError('shred store location is empty');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(location)?.[1]?.toLowerCase();
  if (scheme === undefined) return validateShredStoreOptions({ type: 'file', path: path.resolve(location) });
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new InvalidConfigError(`shred store location ${JSON.stringify(redactUrl(location))} is not a valid URL`);
  }
  if (scheme === 'file') return validateShredStoreOptions({ type: 'file', path: path.resolve(decodeURIComponent(url.pathname)) });
  if (scheme === 'dynamodb') {
    const known = new Set(['region', 'endpoint', 'requestTimeoutMs']);
    const unknown = [...url.searchParams.keys()].filter((k) => !known.has(k));
    if (unknown.length > 0) throw new InvalidConfigError(`shred store location ${location}: unknown parameter ${unknown.map((k) => JSON.stringify(k)).join(', ')} (known: region, endpoint, requestTimeoutMs)`);
    const region = url.searchParams.get('region') ?? defaults.region;
    if (region === undefined || region === '') throw new InvalidConfigError(`shred store location ${location}: a DynamoDB store needs a region (?region=…, or AWS_REGION)`);
    const timeout = url.searchParams.get('requestTimeoutMs');
    return validateShredStoreOptions({
      type: 'dynamodb',
      table: decodeURIComponent(url.hostname + url.pathname).replace(/\/$/, ''),
      region,
      ...(url.searchParams.get('endpoint') ? { endpoint: url.searchParams.get('endpoint') } : {}),
      ...(timeout !== null ? { requestTimeoutMs: Number(timeout) } : {}),
    });
  }
  if (scheme === 'postgres' || scheme === 'postgresql') {
    const schema = url.searchParams.get('schema');
    const poolSize = url.searchParams.get('poolSize');
    url.searchParams.delete('schema');
    url.searchParams.delete('poolSize');
    return validateShredStoreOptions({
      type: 'postgres',
      connectionString: url.toString(),
      ...(schema !== null ? { schema } : {}),
      ...(poolSize !== null ? { poolSize: Number(poolSize) } : {}),
    });
  }
  throw new InvalidConfigError(`shred store location ${JSON.stringify(redactUrl(location))}: unknown scheme "${scheme}://" (expected a directory, dynamodb://<table>?region=…, or postgres://…)`);
}

export interface OpenShredStoreOptions {
  /** Told about watch failures and dropped connections (database stores). */
  warn?: ((message: string) => void) | undefined;
}

/**
 * The store the options name. The database stores' modules (and their drivers) are loaded only
 * when asked for, so a worker with a file store, or none, never loads pg or the DynamoDB client.
 * Nothing is created here: a database store's tables must exist (`keys store init`).
 */
export async function openScopeSecretStore(input: ShredStoreInput | string, options: OpenShredStoreOptions = {}): Promise<ScopeSecretStore> {
  const o = typeof input === 'string' ? parseShredStoreLocation(input) : validateShredStoreOptions(input);
  switch (o.type) {
    case 'file':
      return new FileScopeSecretStore(o.path);
    case 'dynamodb': {
      const { DynamoDbScopeSecretStore } = await import('./dynamodb-shred-store.js');
      return new DynamoDbScopeSecretStore({ table: o.table, region: o.region, endpoint: o.endpoint, requestTimeoutMs: o.requestTimeoutMs, warn: options.warn });
    }
    case 'postgres': {
      const { PostgresScopeSecretStore } = await import('./postgres-shred-store.js');
      return new PostgresScopeSecretStore({ ...o, warn: options.warn });
    }
  }
}

/** A location for messages, without a password. */
export function redactUrl(location: string): string {
  return location.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}
