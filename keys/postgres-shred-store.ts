import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { InvalidConfigError, KeyringError, StoreUnavailableError, isEnvelopeError, type EnvelopeError } from '../primitives/errors.js';
import type { Scope } from '../primitives/scope.js';
import { DatabaseScopeSecretStore, type ScopeSecretRecord } from './database-shred-store.js';
import { pollShredEvents } from './shred-event-poll.js';
import { scopeSecretId, type ShredEvent, type ShredOutcome } from './shred-store.js';

/**
 * The shred store in PostgreSQL, for fleets: every worker and codec-server replica, on any machine,
 * sharing one database. Two tables in their own schema (default "temporal_envelope"), made by
 * `temporal-envelope keys store init` or the DDL in keys/admin/shred-store-init.ts, never by this
 * class:
 *
 *   scope_secrets  scope_id (primary key: scopeSecretId), namespace, workflow_id (NULL for the
 *                  namespace scope), created, and either secret (bytea, 32 bytes) or shredded
 *   shred_events   id (identity), scope_id, namespace, workflow_id, shredded
 *
 * - Creation is race-free: `INSERT … ON CONFLICT DO NOTHING`, then SELECT: processes creating a
 *   scope's secret at once all read the one row that landed.
 * - A shred is one transaction: the row loses its secret and gets `shredded` (inserted as a
 *   tombstone if it never existed), and a shred event row is appended. A concurrent creation's
 *   INSERT finds the tombstone and does nothing: a shredded scope never gets a secret again.
 * - Watchers poll shred_events by id. Shreds take a transaction-scoped advisory lock before
 *   appending, so event ids become visible in id order and a watcher that has read id n has seen
 *   every event below it (a plain sequence can commit 11 before 10, and a poll "after 10" would
 *   then skip 10 forever). Shreds are rare; serialising them costs nothing that matters. One
 *   indexed query per process per interval.
 * - Connection failures, a server shutting down or starting, timeouts, serialisation failures:
 *   STORE_UNAVAILABLE, retryable. A missing table or schema, denied access or bad credentials:
 *   KEYRING_ERROR, which retrying does not cure.
 */
export interface PostgresScopeSecretStoreOptions {
  /** libpq-style URL, `postgres://user:password@host:5432/db?sslmode=verify-full`. */
  connectionString?: string | undefined;
  /** Or a file holding it (a mounted secret), read once when the store opens. */
  connectionStringFile?: string | undefined;
  /** The schema of the two tables. Default "temporal_envelope". */
  schema?: string | undefined;
  /** Connections per process. Default 4. */
  poolSize?: number | undefined;
  /** Per query, and for taking a connection. Default 3000 ms. */
  requestTimeoutMs?: number | undefined;
  /** Told when watching shred events starts failing and recovers, and about dropped idle connections. */
  warn?: ((message: string) => void) | undefined;
  random?: (n: number) => Uint8Array;
}

export const DEFAULT_POSTGRES_SCHEMA = 'temporal_envelope';
/** How far back a watch looks when it starts: a shred committed just before the watch began is still delivered. */
const START_LOOKBACK_MS = 60_000;
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

export class PostgresScopeSecretStore extends DatabaseScopeSecretStore {
  readonly description: string;
  private readonly pool: pg.Pool;
  private readonly secrets: string;
  private readonly events: string;
  /** The advisory lock that orders shred events: one per schema, so two deployments in one database do not wait on each other. */
  private readonly eventLock: string;

  constructor(private readonly options: PostgresScopeSecretStoreOptions) {
    super(options.random);
    const schema = options.schema ?? DEFAULT_POSTGRES_SCHEMA;
    if (!IDENTIFIER.test(schema)) throw new InvalidConfigError(`shredStore "schema" expected a lowercase SQL identifier (a-z, 0-9, _; at most 63), got ${JSON.stringify(schema)}`);
    const poolSize = options.poolSize ?? 4;
    if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 100) throw new InvalidConfigError(`shredStore "poolSize" expected a whole number from 1 to 100, got ${JSON.stringify(options.poolSize)}`);
    const timeoutMs = options.requestTimeoutMs ?? 3000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new InvalidConfigError(`shredStore "requestTimeoutMs" expected a positive integer, got ${JSON.stringify(options.requestTimeoutMs)}`);
    const connectionString = readConnectionString(options);
    this.description = `PostgreSQL shred store ${whereOf(connectionString)} schema ${schema}`;
    this.secrets = `${schema}.scope_secrets`;
    this.events = `${schema}.shred_events`;
    this.eventLock = createHash('sha256').update(`temporal-envelope/shred-events/${schema}`).digest().readBigInt64BE(0).toString();
    this.pool = new pg.Pool({
      connectionString,
      max: poolSize,
      connectionTimeoutMillis: timeoutMs,
      // The server cancels a statement at the timeout (it stops working on what nobody waits for);
      // the client gives up a little later, for a hung server or a dead network.
      statement_timeout: timeoutMs,
      query_timeout: timeoutMs + 1000,
      idleTimeoutMillis: 10_000,
      allowExitOnIdle: true,
      application_name: 'temporal-envelope',
    });
    // An idle connection the server drops (restart, failover) is reported here; unhandled, it
    // would end the process. The pool replaces it on the next query.
    this.pool.on('error', (err) => options.warn?.(`${this.description}: an idle connection failed (${(err as { code?: string }).code ?? 'error'}); it will be replaced`));
  }

  protected async createIfAbsent(scope: Scope, secret: Uint8Array, created: Date): Promise<void> {
    // Exactly one secret per scope, ever: a secret or a tombstone already there wins.
    await this.query(
      'INSERT',
      `INSERT INTO ${this.secrets} (scope_id, namespace, workflow_id, created, secret) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope_id) DO NOTHING`,
      // A view, not a copy: the caller wipes the only bytes.
      [scopeSecretId(scope), scope.namespace, scope.workflowId ?? null, created, Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength)],
    );
  }

  async shred(scope: Scope, now = new Date()): Promise<ShredOutcome> {
    const id = scopeSecretId(scope);
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw this.mapError(err, 'connect');
    }
    let failed: unknown;
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [this.eventLock]);
      for (let attempt = 0; attempt < 5; attempt++) {
        const row = (await client.query<Row>(`SELECT namespace, workflow_id, created, shredded FROM ${this.secrets} WHERE scope_id = $1 FOR UPDATE`, [id]))
          .rows[0];
        if (row?.shredded) {
          await client.query('COMMIT');
          return { before: 'shredded', shredded: row.shredded.toISOString() };
        }
        if (row !== undefined) {
          await client.query(`UPDATE ${this.secrets} SET secret = NULL, shredded = $2 WHERE scope_id = $1`, [id, now]);
        } else {
          const inserted = await client.query(
            `INSERT INTO ${this.secrets} (scope_id, namespace, workflow_id, created, shredded) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (scope_id) DO NOTHING`,
            [id, scope.namespace, scope.workflowId ?? null, now],
          );
          // A concurrent creation landed first (its INSERT committed while ours waited): shred that.
          if (inserted.rowCount === 0) continue;
        }
        await client.query(`INSERT INTO ${this.events} (scope_id, namespace, workflow_id, shredded) VALUES ($1, $2, $3, $4)`, [id, scope.namespace, scope.workflowId ?? null, now]);
        await client.query('COMMIT');
        return { before: row === undefined ? 'absent' : 'active', shredded: now.toISOString() };
      }
      throw new StoreUnavailableError(`${this.description}: the scope kept changing while being shredded; try again`);
    } catch (err) {
      failed = err;
      await client.query('ROLLBACK').catch(() => undefined);
      throw this.mapError(err, 'shred');
    } finally {
      // A connection that failed mid-transaction is not reused.
      client.release(failed !== undefined && !isEnvelopeError(failed) ? (failed as Error) : undefined);
    }
  }

  /**
   * Every shred event from now on (and those of the last minute: forgetting a scope twice is
   * harmless, missing one is not), polled by id.
   */
  watchShreds(onShred: (event: ShredEvent) => void, intervalMs = 2000): { close(): void } {
    let after: string | undefined;
    const since = new Date(Date.now() - START_LOOKBACK_MS);
    const poll = async (): Promise<ShredEvent[]> => {
      if (after === undefined) {
        // The starting point and the recent events, from one snapshot.
        const res = await this.query<EventRow & { top: string }>(
          'watch',
          `SELECT e.id, e.namespace, e.workflow_id, e.shredded, t.top FROM (SELECT coalesce(max(id), 0)::text AS top FROM ${this.events}) t LEFT JOIN ${this.events} e ON e.shredded >= $1 ORDER BY e.id`,
          [since],
        );
        after = res.rows[0]?.top ?? '0';
        return res.rows.filter((r) => r.id !== null).map(eventOf);
      }
      const res = await this.query<EventRow>('watch', `SELECT id, namespace, workflow_id, shredded FROM ${this.events} WHERE id > $1 ORDER BY id LIMIT 1000`, [after]);
      const last = res.rows.at(-1);
      if (last !== undefined) after = String(last.id);
      return res.rows.map(eventOf);
    };
    return pollShredEvents({ poll }, onShred, { intervalMs, warn: this.options.warn, description: this.description });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  protected async read(scope: Scope): Promise<ScopeSecretRecord | undefined> {
    const res = await this.query<Row & { secret: Buffer | null }>(
      'SELECT',
      `SELECT namespace, workflow_id, created, secret, shredded FROM ${this.secrets} WHERE scope_id = $1`,
      [scopeSecretId(scope)],
    );
    const row = res.rows[0];
    if (row === undefined) return undefined;
    return {
      namespace: row.namespace,
      workflowId: row.workflow_id ?? undefined,
      created: row.created.toISOString(),
      secret: row.secret ?? undefined,
      shredded: row.shredded?.toISOString(),
    };
  }

  private async query<R extends pg.QueryResultRow>(op: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw this.mapError(err, op);
    }
  }

  private mapError(err: unknown, op: string): EnvelopeError {
    return mapPostgresError(err, `${this.description}: ${op}`);
  }
}

interface Row {
  namespace: string;
  workflow_id: string | null;
  created: Date;
  shredded: Date | null;
}
interface EventRow {
  id: string;
  namespace: string;
  workflow_id: string | null;
  shredded: Date;
}

function eventOf(row: EventRow): ShredEvent {
  return { namespace: row.namespace, ...(row.workflow_id === null ? {} : { workflowId: row.workflow_id }), shredded: row.shredded.toISOString() };
}

function readConnectionString(options: PostgresScopeSecretStoreOptions): string {
  const { connectionString, connectionStringFile } = options;
  if ((connectionString === undefined) === (connectionStringFile === undefined)) {
    throw new InvalidConfigError('shredStore needs exactly one of "connectionString" and "connectionStringFile" for a PostgreSQL shred store');
  }
  if (connectionString !== undefined) return connectionString;
  let text: string;
  try {
    text = readFileSync(connectionStringFile!, 'utf8').trim();
  } catch (cause) {
    throw new InvalidConfigError(`shredStore "connectionStringFile" ${connectionStringFile} cannot be read: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`, { cause });
  }
  if (text === '') throw new InvalidConfigError(`shredStore "connectionStringFile" ${connectionStringFile} is empty`);
  return text;
}

/** Host, port and database for messages: never the user's password. */
function whereOf(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    const db = decodeURIComponent(url.pathname.replace(/^\//, '')) || '(default database)';
    return `${url.hostname || 'localhost'}${url.port ? `:${url.port}` : ''}/${db}`;
  } catch {
    return '(connection string)';
  }
}

/** SQLSTATE classes that retrying cannot cure: the schema, the credentials, the data or the SQL is wrong. */
const PERMANENT_CLASSES = new Set(['22', '23', '28', '3D', '3F', '42']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ECONNABORTED']);

/**
 * PostgreSQL and network failures as our typed errors. Retryable (STORE_UNAVAILABLE): no connection,
 * a connection cut, timeouts, the server shutting down or starting (57P01-57P03), class 08
 * (connection), 53 (resources), 40 (serialisation, deadlock), and anything unexplained. Not
 * retryable (KEYRING_ERROR): a missing table or schema (`keys store init`), permissions, credentials.
 */
export function mapPostgresError(err: unknown, where: string): EnvelopeError {
  if (isEnvelopeError(err)) return err;
  const e = err as { code?: string; message?: string };
  const code = e.code;
  // Node's network codes first: some (EPIPE) look like a five-character SQLSTATE.
  if (code !== undefined && NETWORK_CODES.has(code)) return new StoreUnavailableError(`${where} failed and may succeed later: ${code}`, { cause: err });
  if (code === '42P01' || code === '3F000') {
    return new KeyringError(`${where}: the shred store's tables do not exist (${code}); create them with "temporal-envelope keys store init" (see docs/key-management.md)`, { cause: err });
  }
  if (code === '42501') return new KeyringError(`${where}: permission denied (42501); grant the role the privileges docs/key-management.md lists`, { cause: err });
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code) && PERMANENT_CLASSES.has(code.slice(0, 2))) {
    return new KeyringError(`${where} was refused: SQLSTATE ${code}`, { cause: err });
  }
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code)) return new StoreUnavailableError(`${where} failed and may succeed later: SQLSTATE ${code}`, { cause: err });
  // node-postgres names its own timeouts and cut connections only in the message.
  const message = e.message ?? '';
  if (/timeout/i.test(message)) return new StoreUnavailableError(`${where} timed out`, { cause: err });
  if (/terminated|connection|closed/i.test(message)) return new StoreUnavailableError(`${where} lost its connection`, { cause: err });
  return new StoreUnavailableError(`${where} failed`, { cause: err });
}
