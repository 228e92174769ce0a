import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { KeyShreddedError, KeyringError, UnknownKeyError } from '../primitives/errors.js';
import { watchFile, writeFileAtomic, type FileWatch } from '../primitives/files.js';
import { lengthPrefixed } from '../primitives/bytes.js';
import { describeScope, makeScope, scopeFields, scopeKey, type Scope } from '../primitives/scope.js';
import { base64Key, directoryInstead, isoTime, parseKeyFile } from './file-schema.js';

/**
 * Per-scope secrets that can be destroyed: the part of a shreddable data key that never enters
 * Temporal history. See keys/shreddable-provider.ts for how they combine with the KEK-wrapped data
 * key, and docs/key-management.md ("Crypto-shredding") for the design and its limits.
 *
 * Every store keeps the same promises, whatever it is built on (a directory here, DynamoDB in
 * keys/dynamodb-shred-store.ts, PostgreSQL in keys/postgres-shred-store.ts):
 * - one secret per scope, ever: processes creating it at once agree on one;
 * - a shred leaves a tombstone that no later or concurrent creation can replace (never resurrected);
 * - an unreachable store fails retryably (STORE_UNAVAILABLE) and never reads as "absent".
 */
export interface ScopeSecretStore {
  /** Where the secrets live, for messages. Never carries credentials. */
  readonly description: string;
  /** The scope's secret, created on first use. Throws KeyShreddedError if the scope was shredded. */
  getOrCreate(scope: Scope): Promise<Uint8Array>;
  /** The scope's secret. KeyShreddedError if shredded; UnknownKeyError if it never existed in this store. */
  get(scope: Scope): Promise<Uint8Array>;
  /** Destroy the scope's secret and leave a tombstone. Idempotent. */
  shred(scope: Scope, now?: Date): Promise<ShredOutcome>;
  status(scope: Scope): Promise<ScopeSecretStatus>;
  /** Call `onShred` for every scope shredded from now on, by any process sharing the store. Optional: without it, cache expiry bounds how long a running process keeps opening a shredded scope. */
  watchShreds?(onShred: (event: ShredEvent) => void, intervalMs?: number): { close(): void };
  /** Release connections (database stores). */
  close?(): Promise<void>;
}

/** The length of every scope secret, in every store. */
export const SECRET_BYTES = 32;

/**
 * A secret the store does not have, for a payload that says it was sealed with one: permanent, not
 * "retry later". The payload was sealed through another store (or this one lost the secret), and no
 * retry will make the secret appear.
 */
export function secretMissing(store: string, scope: Scope): UnknownKeyError {
  return new UnknownKeyError(
    `${store} has no secret for ${describeScope(scope)}: this is not the shred store the payload was sealed with (or the secret was lost); retrying will not help`,
  );
}

/**
 * How the database stores name a scope's entry, in every language: the lowercase hex SHA-256 of the
 * scope's length-prefixed fields (namespace, then 0x00 or 0x01 ‖ workflow id; primitives/scope.ts),
 * the same bytes the shreddable key derivation hashes. Fixed-length, so no workflow id can pick or
 * overflow a key, and computable from a payload's header alone.
 */
export function scopeSecretId(scope: Scope): string {
  return createHash('sha256').update(lengthPrefixed(scopeFields(scope))).digest('hex');
}

export function scopeShredded(scope: Scope, when: string): KeyShreddedError {
  return new KeyShreddedError(`${describeScope(scope)} was crypto-shredded at ${when}; its payloads can no longer be decrypted`);
}

export type ScopeSecretStatus =
  | { readonly state: 'active'; readonly created: string }
  | { readonly state: 'shredded'; readonly shredded: string }
  | { readonly state: 'absent' };

export interface ShredOutcome {
  /** The state the scope was in before: "absent" means no payload of it was ever sealed with this store. */
  readonly before: ScopeSecretStatus['state'];
  readonly shredded: string;
}

/** One line of shred.log: lets running processes drop cached keys of a shredded scope promptly. */
const shredEventSchema = z.looseObject({
  namespace: z.string().min(1),
  workflowId: z.string().min(1).optional(),
  shredded: z.string(),
});
export type ShredEvent = z.infer<typeof shredEventSchema>;

const FORMAT = 'temporal-envelope-scope-secret/v1';
export const SHRED_LOG = 'shred.log';

/** One scope's file: its secret while active, a tombstone (`shredded`, no secret) after. */
const secretFileSchema = z.looseObject({
  format: z.literal(FORMAT),
  namespace: z.string(),
  workflowId: z.string().optional(),
  created: isoTime,
  secret: base64Key(SECRET_BYTES).optional(),
  shredded: isoTime.optional(),
});
type SecretFile = z.infer<typeof secretFileSchema>;

/**
 * A directory (mode 0700) with one file (mode 0600) per scope, named by a hash of the scope so a
 * workflow id can never pick a path. One file per scope makes creation race-free across processes
 * sharing the directory (link(2) fails if the name exists) and makes shredding one scope touch no
 * other scope's bytes.
 */
export class FileScopeSecretStore implements ScopeSecretStore {
  readonly description: string;

  constructor(
    readonly dir: string,
    private readonly random: (n: number) => Uint8Array = randomBytes,
  ) {
    this.dir = path.resolve(dir);
    this.description = `shred store ${this.dir}`;
  }

  fileFor(scope: Scope): string {
    return path.join(this.dir, `${createHash('sha256').update(scopeKey(scope)).digest('hex')}.json`);
  }

  async getOrCreate(scope: Scope): Promise<Uint8Array> {
    const existing = await this.read(scope);
    if (existing !== undefined) return this.secretOf(existing, scope);
    const doc: SecretFile = {
      format: FORMAT,
      namespace: scope.namespace,
      workflowId: scope.workflowId,
      created: new Date().toISOString(),
      secret: Buffer.from(this.random(SECRET_BYTES)).toString('base64'),
    };
    try {
      // Exclusive: two workers creating the same scope's secret at once end up agreeing on
      // whichever landed first.
      await writeFileAtomic(this.fileFor(scope), secretFileText(doc), { exclusive: true });
    } catch (err) {
      throw this.ioError('cannot create a secret', err);
    }
    return this.get(scope);
  }

  async get(scope: Scope): Promise<Uint8Array> {
    const doc = await this.read(scope);
    if (doc === undefined) throw secretMissing(this.description, scope);
    return this.secretOf(doc, scope);
  }

  async status(scope: Scope): Promise<ScopeSecretStatus> {
    const doc = await this.read(scope);
    if (doc === undefined) return { state: 'absent' };
    if (doc.shredded !== undefined) return { state: 'shredded', shredded: doc.shredded };
    return { state: 'active', created: doc.created };
  }

  async shred(scope: Scope, now = new Date()): Promise<ShredOutcome> {
    const before = await this.status(scope);
    if (before.state === 'shredded') return { before: 'shredded', shredded: before.shredded };
    const file = this.fileFor(scope);
    const shredded = now.toISOString();
    if (before.state === 'active') {
      // Overwrite in place before replacing the file: on filesystems that update in place this
      // removes the secret from the disk blocks, not only from the directory. (Copy-on-write
      // filesystems, SSD wear levelling and backups are limits, documented.)
      await overwriteWithZeros(file);
    }
    const tomb: SecretFile = {
      format: FORMAT,
      namespace: scope.namespace,
      workflowId: scope.workflowId,
      created: before.state === 'active' ? before.created : shredded,
      shredded,
    };
    await writeFileAtomic(file, secretFileText(tomb));
    const event: ShredEvent = { namespace: scope.namespace, workflowId: scope.workflowId, shredded };
    await fs.appendFile(path.join(this.dir, SHRED_LOG), `${JSON.stringify(event)}\n`, { mode: 0o600 });
    return { before: before.state, shredded };
  }

  /**
   * Call `onShred` for every scope shredded (by any process) after this call, by polling shred.log.
   * Running codecs use it to drop cached data keys of that scope at once instead of at cache expiry.
   */
  watchShreds(onShred: (event: ShredEvent) => void, intervalMs = 2000): FileWatch {
    const log = path.join(this.dir, SHRED_LOG);
    // Start from the log's end now (synchronously), so a shred right after this call is not missed.
    let offset = sizeSync(log);
    const readNewLines = async () => {
      const size = await fs.stat(log).then((s) => s.size, () => 0);
      if (size < offset) offset = 0; // the log was pruned or recreated
      if (size === offset) return;
      const handle = await fs.open(log, 'r');
      let buf: Buffer;
      try {
        buf = Buffer.alloc(size - offset);
        await handle.read(buf, 0, buf.length, offset);
      } finally {
        await handle.close();
      }
      // Only whole lines: a line being appended right now is read on the next change.
      const complete = buf.lastIndexOf(0x0a) + 1;
      offset += complete;
      for (const line of buf.subarray(0, complete).toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        // A torn or foreign line must not stop the watch; cache expiry still bounds exposure.
        const event = shredEventSchema.safeParse(parseJsonOrUndefined(line));
        if (event.success) onShred(event.data);
      }
    };
    return watchFile(log, readNewLines, { intervalMs });
  }

  private secretOf(doc: SecretFile, scope: Scope): Uint8Array {
    if (doc.shredded !== undefined) throw scopeShredded(scope, doc.shredded);
    if (doc.secret === undefined) throw new KeyringError(`${this.description}: secret file for ${describeScope(scope)} has neither a secret nor a tombstone`);
    return Uint8Array.from(Buffer.from(doc.secret, 'base64'));
  }

  private async read(scope: Scope): Promise<SecretFile | undefined> {
    const file = this.fileFor(scope);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      if ((err as NodeJS.ErrnoException).code === 'EISDIR') throw directoryInstead(`${this.description}: secret file for ${describeScope(scope)}`, 'a secret file');
      throw this.ioError('cannot read a secret', err);
    }
    const doc = parseKeyFile(secretFileSchema, text, `${this.description}: secret file for ${describeScope(scope)}`);
    if (doc.namespace !== scope.namespace || doc.workflowId !== scope.workflowId) {
      throw new KeyringError(`${this.description}: secret file for ${describeScope(scope)} does not belong to that scope`);
    }
    return doc;
  }

  private ioError(what: string, cause: unknown): KeyringError {
    return new KeyringError(`${this.description}: ${what}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`, { cause });
  }
}

async function overwriteWithZeros(file: string): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    const { size } = await handle.stat();
    await handle.write(Buffer.alloc(size), 0, size, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function sizeSync(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

export function scopeFromEvent(event: ShredEvent): Scope {
  return makeScope(event.namespace, event.workflowId);
}

function secretFileText(doc: SecretFile): string {
  return `${JSON.stringify(doc)}\n`;
}

function parseJsonOrUndefined(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
