import { randomUUID } from 'node:crypto';
import {
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
  type AttributeValue,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { InvalidConfigError, KeyringError, StoreUnavailableError, isEnvelopeError, type EnvelopeError } from '../primitives/errors.js';
import type { Scope } from '../primitives/scope.js';
import { DatabaseScopeSecretStore, statusOfRecord, type ScopeSecretRecord } from './database-shred-store.js';
import { pollShredEvents } from './shred-event-poll.js';
import { scopeSecretId, type ShredEvent, type ShredOutcome } from './shred-store.js';

/**
 * The shred store on one DynamoDB table, for fleets: every worker and codec-server replica, on any
 * machine, sharing it at once. The table (made by `temporal-envelope keys store init`, or from the
 * definition in keys/admin/shred-store-init.ts; never by this class) has a string partition key
 * `pk` and a string sort key `sk`, and holds two kinds of items:
 *
 *   a scope's secret    pk = "scope#" + scopeSecretId(scope)   sk = "secret"
 *                       namespace, workflowId (absent for the namespace scope), created (ISO-8601),
 *                       format, and either secret (binary, 32 bytes) or shredded (ISO-8601)
 *   a shred event       pk = "shred#" + the UTC day of the shred (YYYY-MM-DD)
 *                       sk = shredded (ISO-8601) + "#" + scopeSecretId(scope)
 *                       namespace, workflowId, shredded, expiresAt (epoch seconds, for the table's TTL)
 *
 * - Creation is race-free: a conditional PutItem (`attribute_not_exists(pk)`) then a strongly
 *   consistent GetItem, so processes creating a scope's secret at once all read the one that landed.
 * - A shred is one transaction: the secret item loses `secret` and gains `shredded` (created as a
 *   tombstone if it never existed), and the event item is written, both or neither. A later or
 *   concurrent creation's conditional put fails on the tombstone: a shredded scope never gets a
 *   secret again.
 * - The shred events are an item collection per day, read with Query (never Scan) by time: each
 *   watcher asks for events since its last poll, minus a look-back that absorbs clock skew between
 *   the shredding process and the watcher and a slow write (events already seen are skipped). So
 *   every process sees a shred within its poll interval, one Query per interval, independent of
 *   the table's size.
 * - Outages (network, throttling, DynamoDB's 5xx, timeouts) are STORE_UNAVAILABLE, retryable; a
 *   missing table, denied access or bad credentials are KEYRING_ERROR, which retrying does not cure.
 */
export interface DynamoDbScopeSecretStoreOptions {
  table: string;
  region: string;
  /** An AWS-compatible endpoint (tests use moto on loopback). */
  endpoint?: string | undefined;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /** Per store operation, the SDK's retries included. Default 3000 ms. */
  requestTimeoutMs?: number | undefined;
  /** Told when watching shred events starts failing and recovers. */
  warn?: ((message: string) => void) | undefined;
  /** Injected for tests. */
  client?: DynamoDBClient;
  random?: (n: number) => Uint8Array;
}

export const DYNAMODB_SECRET_SORT_KEY = 'secret';
/** How far back each watch poll looks, beyond its previous poll: clocks and slow writes. */
export const SHRED_EVENT_LOOKBACK_MS = 60_000;
/** How long shred events stay (the table's TTL on `expiresAt` removes them, if enabled): watchers only need recent ones. */
export const SHRED_EVENT_RETENTION_DAYS = 7;
const FORMAT = 'temporal-envelope-scope-secret/v1';
const DAY_MS = 86_400_000;

export const secretItemKey = (scope: Scope): Record<string, AttributeValue> => ({
  pk: { S: `scope#${scopeSecretId(scope)}` },
  sk: { S: DYNAMODB_SECRET_SORT_KEY },
});
export const shredEventPartition = (isoTime: string): string => `shred#${isoTime.slice(0, 10)}`;

export class DynamoDbScopeSecretStore extends DatabaseScopeSecretStore {
  readonly description: string;
  private readonly client: DynamoDBClient;
  private readonly ownsClient: boolean;
  private readonly timeoutMs: number;

  constructor(private readonly options: DynamoDbScopeSecretStoreOptions) {
    super(options.random);
    if (typeof options.table !== 'string' || !/^[A-Za-z0-9_.-]{3,255}$/.test(options.table)) {
      throw new InvalidConfigError(`shredStore "table" expected a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -), got ${JSON.stringify(options.table)}`);
    }
    if (typeof options.region !== 'string' || options.region === '') throw new InvalidConfigError('shredStore "region" is required for a DynamoDB shred store');
    this.timeoutMs = options.requestTimeoutMs ?? 3000;
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs < 1) throw new InvalidConfigError(`shredStore "requestTimeoutMs" expected a positive integer, got ${options.requestTimeoutMs}`);
    this.description = `DynamoDB shred store ${options.table} (${options.region}${options.endpoint ? ` at ${options.endpoint}` : ''})`;
    this.ownsClient = options.client === undefined;
    this.client = options.client ?? createDynamoDbClient(options);
  }

  protected async createIfAbsent(scope: Scope, secret: Uint8Array, created: Date): Promise<void> {
    await this.conditional('PutItem', (signal) =>
      this.client.send(
        new PutItemCommand({
          TableName: this.options.table,
          Item: { ...secretItemKey(scope), ...scopeAttributes(scope), format: { S: FORMAT }, created: { S: created.toISOString() }, secret: { B: secret } },
          // Exactly one secret per scope, ever: a secret or a tombstone already there wins.
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
        { abortSignal: signal },
      ),
    );
  }

  async shred(scope: Scope, now = new Date()): Promise<ShredOutcome> {
    const shredded = now.toISOString();
    // Conditioned on the state just read, so `before` is exact even when a creation races the shred:
    // if the state changed in between, read again and retry.
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = statusOfRecord(await this.read(scope));
      if (before.state === 'shredded') return { before: 'shredded', shredded: before.shredded };
      const id = scopeSecretId(scope);
      const items: TransactWriteItem[] = [
        {
          Update: {
            TableName: this.options.table,
            Key: secretItemKey(scope),
            // Every attribute name through #names: DynamoDB reserves words such as FORMAT and NAMESPACE.
            UpdateExpression: `SET #shredded = :shredded, #created = if_not_exists(#created, :shredded), #format = :format, #namespace = :namespace${scope.workflowId === undefined ? '' : ', #workflowId = :workflowId'} REMOVE #secret`,
            ConditionExpression: before.state === 'active' ? 'attribute_exists(#secret) AND attribute_not_exists(#shredded)' : 'attribute_not_exists(pk)',
            ExpressionAttributeNames: {
              '#shredded': 'shredded',
              '#created': 'created',
              '#format': 'format',
              '#namespace': 'namespace',
              '#secret': 'secret',
              ...(scope.workflowId === undefined ? {} : { '#workflowId': 'workflowId' }),
            },
            ExpressionAttributeValues: {
              ':shredded': { S: shredded },
              ':format': { S: FORMAT },
              ':namespace': { S: scope.namespace },
              ...(scope.workflowId === undefined ? {} : { ':workflowId': { S: scope.workflowId } }),
            },
          },
        },
        {
          Put: {
            TableName: this.options.table,
            Item: {
              pk: { S: shredEventPartition(shredded) },
              sk: { S: `${shredded}#${id}` },
              ...scopeAttributes(scope),
              shredded: { S: shredded },
              expiresAt: { N: String(Math.floor(now.getTime() / 1000) + SHRED_EVENT_RETENTION_DAYS * 86_400) },
            },
          },
        },
      ];
      // The token makes the SDK's own retries of this transaction idempotent.
      const token = randomUUID();
      const done = await this.conditional('TransactWriteItems', (signal) => this.client.send(new TransactWriteItemsCommand({ TransactItems: items, ClientRequestToken: token }), { abortSignal: signal }));
      if (done) return { before: before.state, shredded };
    }
    throw new StoreUnavailableError(`${this.description}: the scope kept changing while being shredded; try again`);
  }

  /**
   * Every shred event from now on (and up to SHRED_EVENT_LOOKBACK_MS before: forgetting a scope
   * twice is harmless, missing one is not). One Query per day the window spans, per poll.
   */
  watchShreds(onShred: (event: ShredEvent) => void, intervalMs = 2000): { close(): void } {
    let since = Date.now() - SHRED_EVENT_LOOKBACK_MS;
    // Event keys already delivered, with their time, forgotten once they fall out of the window.
    const seen = new Map<string, number>();
    const poll = async (): Promise<ShredEvent[]> => {
      const started = Date.now();
      const from = new Date(Math.max(since, started - SHRED_EVENT_RETENTION_DAYS * DAY_MS)).toISOString();
      const fresh: ShredEvent[] = [];
      for (let day = Date.parse(from.slice(0, 10)); day <= started; day += DAY_MS) {
        let startKey: Record<string, AttributeValue> | undefined;
        do {
          const out = await this.call('Query', (signal) =>
            this.client.send(
              new QueryCommand({
                TableName: this.options.table,
                ConsistentRead: true,
                KeyConditionExpression: 'pk = :pk AND sk >= :from',
                ExpressionAttributeValues: { ':pk': { S: shredEventPartition(new Date(day).toISOString()) }, ':from': { S: from } },
                ...(startKey ? { ExclusiveStartKey: startKey } : {}),
              }),
              { abortSignal: signal },
            ),
          );
          for (const item of out.Items ?? []) {
            const key = item.sk?.S;
            const event = eventOf(item);
            if (key === undefined || event === undefined || seen.has(key)) continue;
            seen.set(key, Date.parse(event.shredded));
            fresh.push(event);
          }
          startKey = out.LastEvaluatedKey;
        } while (startKey !== undefined);
      }
      // Only a poll that read everything moves the window: after an outage the next one catches up.
      since = started - SHRED_EVENT_LOOKBACK_MS;
      for (const [key, at] of seen) if (!(at >= since - SHRED_EVENT_LOOKBACK_MS)) seen.delete(key);
      return fresh;
    };
    return pollShredEvents({ poll }, onShred, { intervalMs, warn: this.options.warn, description: this.description });
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }

  protected async read(scope: Scope): Promise<ScopeSecretRecord | undefined> {
    const out = await this.call('GetItem', (signal) =>
      this.client.send(new GetItemCommand({ TableName: this.options.table, Key: secretItemKey(scope), ConsistentRead: true }), { abortSignal: signal }),
    );
    const item = out.Item;
    if (item === undefined) return undefined;
    return {
      namespace: item.namespace?.S ?? '',
      workflowId: item.workflowId?.S,
      created: item.created?.S ?? '',
      secret: item.secret?.B,
      shredded: item.shredded?.S,
    };
  }

  private async call<T>(op: string, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await send(AbortSignal.timeout(this.timeoutMs));
    } catch (err) {
      throw mapDynamoDbError(err, op, this.description, this.options.table, this.timeoutMs);
    }
  }

  /** A conditional write: true if it was made, false if its condition (only) refused it. */
  private async conditional(op: string, send: (signal: AbortSignal) => Promise<unknown>): Promise<boolean> {
    try {
      await send(AbortSignal.timeout(this.timeoutMs));
      return true;
    } catch (err) {
      if (isConditionFailed(err)) return false;
      throw mapDynamoDbError(err, op, this.description, this.options.table, this.timeoutMs);
    }
  }
}

/** The SDK retries throttling, 5xx and network errors itself (3 attempts, backoff) within the operation's timeout. */
export function createDynamoDbClient(options: Pick<DynamoDbScopeSecretStoreOptions, 'region' | 'endpoint' | 'credentials'>): DynamoDBClient {
  return new DynamoDBClient({
    region: options.region,
    maxAttempts: 3,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
}

function scopeAttributes(scope: Scope): Record<string, AttributeValue> {
  return { namespace: { S: scope.namespace }, ...(scope.workflowId === undefined ? {} : { workflowId: { S: scope.workflowId } }) };
}

function eventOf(item: Record<string, AttributeValue>): ShredEvent | undefined {
  const namespace = item.namespace?.S;
  const shredded = item.shredded?.S;
  if (!namespace || shredded === undefined) return undefined;
  return { namespace, ...(item.workflowId?.S ? { workflowId: item.workflowId.S } : {}), shredded };
}

function isConditionFailed(err: unknown): boolean {
  const e = err as { name?: string; CancellationReasons?: { Code?: string }[] };
  if (e.name === 'ConditionalCheckFailedException') return true;
  // A transaction cancelled by failed conditions only (the other items "None"), not by a conflict.
  const reasons = e.CancellationReasons ?? [];
  return e.name === 'TransactionCanceledException' && reasons.some((r) => r.Code === 'ConditionalCheckFailed') && reasons.every((r) => r.Code === 'ConditionalCheckFailed' || r.Code === 'None');
}

const RETRYABLE = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'InternalServerError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TransactionConflictException',
  'TransactionInProgressException',
  'RequestTimeout',
  'RequestTimeoutException',
]);
const REFUSED = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'MissingAuthenticationTokenException',
  'ExpiredTokenException',
  'ValidationException',
  'CredentialsProviderError',
]);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ECONNABORTED']);

/** DynamoDB and network failures as our typed errors (a failed condition is not one: see `conditional`). */
function mapDynamoDbError(err: unknown, op: string, store: string, table: string, timeoutMs: number): EnvelopeError {
  if (isEnvelopeError(err)) return err;
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; cause?: { code?: string } };
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const code = e.code ?? e.cause?.code;
  const where = `${store}: ${op}`;
  if (name === 'TransactionCanceledException') {
    // Cancelled by a concurrent transaction or throttling: an ordinary retry.
    const reasons = ((err as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? []).map((r) => r.Code ?? '?');
    return new StoreUnavailableError(`${where} was cancelled (${reasons.join(', ')}); retry`, { cause: err });
  }
  if (name === 'ResourceNotFoundException') {
    return new KeyringError(`${where}: table ${table} does not exist; create it with "temporal-envelope keys store init" (see docs/key-management.md)`, { cause: err });
  }
  if (REFUSED.has(name)) return new KeyringError(`${where} was refused: ${name}${status ? ` (HTTP ${status})` : ''}`, { cause: err });
  if (code !== undefined && NETWORK_CODES.has(code)) return new StoreUnavailableError(`${where} failed and may succeed later: ${code}`, { cause: err });
  if (name === 'TimeoutError' || name === 'AbortError') return new StoreUnavailableError(`${where} timed out after ${timeoutMs} ms`, { cause: err });
  if (RETRYABLE.has(name) || (status !== undefined && status >= 500)) {
    return new StoreUnavailableError(`${where} failed and may succeed later: ${code ?? name}${status ? ` (HTTP ${status})` : ''}`, { cause: err });
  }
  // Unexplained: retryable, since a task retried later loses nothing and a permanent error would fail the workflow.
  return new StoreUnavailableError(`${where} failed: ${name}${status ? ` (HTTP ${status})` : ''}`, { cause: err });
}
