import { promises as fs } from 'node:fs';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
  type CreateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import pg from 'pg';
import { InvalidConfigError, KeyringError, isEnvelopeError } from '../../primitives/errors.js';
import { DEFAULT_POSTGRES_SCHEMA, mapPostgresError } from '../postgres-shred-store.js';
import { createDynamoDbClient } from '../dynamodb-shred-store.js';
import type { ShredStoreOptions } from '../shred-store-options.js';

/**
 * Creating a shred store's tables: an administrator's act (`temporal-envelope keys store init`),
 * never the runtime's. Idempotent: what exists is checked, not replaced. The definitions are here
 * once, printed by `keys store init --print` and quoted in docs/key-management.md.
 */

export type StoreInitOutcome = { readonly created: boolean; readonly what: string };

/**
 * The table, as the Properties of an AWS::DynamoDB::Table resource (CloudFormation); `init` makes
 * the same with CreateTable and UpdateTimeToLive. Encrypted at rest with DynamoDB's default key;
 * docs/key-management.md says how to name your own.
 */
export function dynamoDbTableDefinition(table: string): CreateTableCommandInput & { TimeToLiveSpecification: { AttributeName: string; Enabled: boolean } } {
  return {
    TableName: table,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    // Shred events carry expiresAt: the table forgets them after a week (the secrets' items have none).
    TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
  };
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** The schema and, with `grantTo`, the runtime role's privileges. Both names are checked: they go into SQL as they are. */
export function postgresDdl(schema = DEFAULT_POSTGRES_SCHEMA, grantTo?: string): string {
  if (!IDENTIFIER.test(schema)) throw new InvalidConfigError(`schema expected a lowercase SQL identifier (a-z, 0-9, _), got ${JSON.stringify(schema)}`);
  if (grantTo !== undefined && !IDENTIFIER.test(grantTo)) throw new InvalidConfigError(`--grant-to expected a lowercase role name (a-z, 0-9, _), got ${JSON.stringify(grantTo)}`);
  const grants =
    grantTo === undefined
      ? ''
      : `
-- What the runtime role needs, and nothing more: no DELETE, no DDL.
GRANT USAGE ON SCHEMA ${schema} TO ${grantTo};
GRANT SELECT, INSERT, UPDATE ON ${schema}.scope_secrets TO ${grantTo};
GRANT SELECT, INSERT ON ${schema}.shred_events TO ${grantTo};
`;
  return `CREATE SCHEMA IF NOT EXISTS ${schema};

-- One row per scope (namespace, workflow): its 32-byte secret while active; a tombstone once shredded.
CREATE TABLE IF NOT EXISTS ${schema}.scope_secrets (
  scope_id    text PRIMARY KEY CHECK (scope_id ~ '^[0-9a-f]{64}$'),  -- hex SHA-256 of the scope's length-prefixed fields
  namespace   text NOT NULL,
  workflow_id text,                                                -- NULL: the namespace scope
  created     timestamptz NOT NULL,
  secret      bytea CHECK (octet_length(secret) = 32),
  shredded    timestamptz,
  CHECK ((secret IS NULL) <> (shredded IS NULL))
);

-- Appended by every shred; each process polls it by id to forget cached keys of shredded scopes.
CREATE TABLE IF NOT EXISTS ${schema}.shred_events (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  scope_id    text NOT NULL,
  namespace   text NOT NULL,
  workflow_id text,
  shredded    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS shred_events_shredded ON ${schema}.shred_events (shredded);
${grants}`;
}

export interface InitShredStoreOptions {
  /** PostgreSQL: grant the runtime privileges to this role. */
  grantTo?: string | undefined;
  /** DynamoDB: credentials other than the default chain (tests). */
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
}

/** Create the store's tables (or directory) if missing; check what exists. */
export async function initShredStore(store: ShredStoreOptions, options: InitShredStoreOptions = {}): Promise<StoreInitOutcome> {
  switch (store.type) {
    case 'file': {
      const existed = await fs.stat(store.path).then(
        () => true,
        () => false,
      );
      await fs.mkdir(store.path, { recursive: true, mode: 0o700 });
      return { created: !existed, what: `directory ${store.path}` };
    }
    case 'dynamodb':
      return initDynamoDb(store, options);
    case 'postgres':
      return initPostgres(store, options);
  }
}

async function initDynamoDb(store: Extract<ShredStoreOptions, { type: 'dynamodb' }>, options: InitShredStoreOptions): Promise<StoreInitOutcome> {
  const client = createDynamoDbClient({ region: store.region, endpoint: store.endpoint, credentials: options.credentials });
  const what = `DynamoDB table ${store.table} (${store.region})`;
  const { TimeToLiveSpecification: ttl, ...definition } = dynamoDbTableDefinition(store.table);
  try {
    let created = true;
    try {
      await client.send(new CreateTableCommand(definition));
    } catch (err) {
      if ((err as { name?: string }).name !== 'ResourceInUseException') throw err;
      created = false;
    }
    await waitUntilTableExists({ client, maxWaitTime: 300 }, { TableName: store.table });
    const table = (await client.send(new DescribeTableCommand({ TableName: store.table }))).Table;
    const keys = (table?.KeySchema ?? []).map((k) => `${k.AttributeName}:${k.KeyType}`).sort();
    if (keys.join(',') !== 'pk:HASH,sk:RANGE') {
      throw new KeyringError(`${what} exists with key schema ${keys.join(', ') || '(none)'}; a shred store needs partition key "pk" and sort key "sk" (strings)`);
    }
    const ttlNow = (await client.send(new DescribeTimeToLiveCommand({ TableName: store.table }))).TimeToLiveDescription;
    if (ttlNow?.TimeToLiveStatus !== 'ENABLED' && ttlNow?.TimeToLiveStatus !== 'ENABLING') {
      await client.send(new UpdateTimeToLiveCommand({ TableName: store.table, TimeToLiveSpecification: ttl }));
    }
    return { created, what };
  } catch (err) {
    if (isEnvelopeError(err)) throw err;
    const name = (err as { name?: string }).name ?? 'Error';
    throw new KeyringError(`${what}: cannot create or check it: ${name}`, { cause: err });
  } finally {
    client.destroy();
  }
}

async function initPostgres(store: Extract<ShredStoreOptions, { type: 'postgres' }>, options: InitShredStoreOptions): Promise<StoreInitOutcome> {
  const schema = store.schema ?? DEFAULT_POSTGRES_SCHEMA;
  const ddl = postgresDdl(schema, options.grantTo);
  let connectionString = store.connectionString;
  if (connectionString === undefined) {
    try {
      connectionString = (await fs.readFile(store.connectionStringFile!, 'utf8')).trim();
    } catch (cause) {
      throw new InvalidConfigError(`shredStore "connectionStringFile" ${store.connectionStringFile} cannot be read: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`, { cause });
    }
  }
  const what = `PostgreSQL schema ${schema}`;
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: store.requestTimeoutMs ?? 10_000, application_name: 'temporal-envelope keys store init' });
  try {
    await client.connect();
    const existed = (await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name IN ('scope_secrets', 'shred_events')`, [schema])).rows[0]?.n === '2';
    await client.query('BEGIN');
    await client.query(ddl);
    await client.query('COMMIT');
    return { created: !existed, what };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw mapPostgresError(err, `${what}: cannot create or check it`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
