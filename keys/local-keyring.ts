import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSealed, sealWithRandomNonce } from '../primitives/aead.js';
import { KeyRetiredError, KeyringError, MalformedPayloadError, UnknownKeyError } from '../primitives/errors.js';
import { watchFile, type FileWatch } from '../primitives/files.js';
import { lengthPrefixed, utf8 } from '../primitives/bytes.js';
import { isBranchKeyScope } from '../primitives/branch-key.js';
import { scopeFields, type Scope } from '../primitives/scope.js';
import type { GeneratedDataKey, KekInfo, KeyProvider } from './key-provider.js';
import { createKeyring, readKeyring, type KeyringDocument } from './keyring-file.js';

export const DEFAULT_KEYRING_PATH = path.join(os.homedir(), '.temporal-envelope', 'keyring.json');

export interface LocalKeyringOptions {
  /** Keyring file. Default ~/.temporal-envelope/keyring.json. */
  path?: string;
  /**
   * Create the file (with one primary KEK) when it is missing. Default false: a mistyped path must
   * fail, naming the path and `temporal-envelope keys init`, not start sealing with keys nobody
   * else holds. `keys init` and the codec server's dev mode create keyrings.
   */
  create?: boolean;
  /** Re-read the file when it changes, so a `keys rotate` reaches running workers. 0 turns it off. Default 2000 ms. */
  watchIntervalMs?: number;
  /** Skip the mode-0600 check (tests on filesystems without modes). Default false. */
  allowInsecurePermissions?: boolean;
  /** Told once when a keyring is created, and when a reload fails. */
  warn?: (message: string) => void;
  random?: (n: number) => Uint8Array;
}

const WRAP_LABEL = utf8.encode('temporal-envelope/v1/dek');
// Branch keys (format v2) are wrapped for their namespace under a label no data key's wrap has.
const BRANCH_WRAP_LABEL = utf8.encode('temporal-envelope/v2/branch-key');

interface LoadedKek {
  readonly id: string;
  readonly version: number;
  readonly state: KekInfo['state'];
  readonly created: string;
  readonly material: Uint8Array | undefined;
}

/**
 * The embedded, zero-config KEK provider: KEKs live in a local JSON file and wrap data keys with
 * AES-256-GCM, the scope bound as additional data. For development and single-host set-ups; in
 * production the KEK belongs in a KMS (AwsKmsKeyring), where it never leaves the HSM.
 */
export class LocalKeyring implements KeyProvider {
  readonly name = 'local';
  readonly wrapsBranchKeys = true;
  private keks = new Map<string, LoadedKek>();
  private primary!: LoadedKek;
  private watch: FileWatch | undefined;
  private lastReloadFailure: string | undefined;
  private readonly random: (n: number) => Uint8Array;

  private constructor(
    readonly path: string,
    private readonly options: LocalKeyringOptions,
  ) {
    this.random = options.random ?? randomBytes;
  }

  static async open(options: LocalKeyringOptions = {}): Promise<LocalKeyring> {
    const file = path.resolve(options.path ?? DEFAULT_KEYRING_PATH);
    const warn = options.warn ?? console.warn;
    if (options.create === true && !(await exists(file)) && (await createKeyring(file)) !== undefined) {
      warn(`temporal-envelope: created a local development keyring at ${file}. Its keys are only as safe as that file: use a KMS in production.`);
    }
    const ring = new LocalKeyring(file, options);
    const interval = options.watchIntervalMs ?? 2000;
    // Watching starts before the first read, so a rotation written while it runs is read again.
    if (interval > 0) {
      ring.watch = watchFile(file, () => ring.reload(), {
        intervalMs: interval,
        // Keep the keys we have: a half-edited or broken file must not take a running worker down.
        // A failed change is retried every tick; the warning is given once per distinct failure.
        onError: (err) => {
          if (err.message === ring.lastReloadFailure) return;
          ring.lastReloadFailure = err.message;
          warn(`temporal-envelope: keyring reload failed, keeping the loaded keys: ${err.message}`);
        },
      });
    }
    try {
      await ring.reload();
    } catch (err) {
      ring.close();
      throw err;
    }
    return ring;
  }

  /** Build a keyring from a document in memory (tests, known-answer vectors). */
  static fromDocument(doc: KeyringDocument, options: Pick<LocalKeyringOptions, 'random'> = {}): LocalKeyring {
    const ring = new LocalKeyring('(memory)', options);
    ring.load(doc);
    return ring;
  }

  /** Read the file again and use its keys; on any failure the keys loaded before stay in use. */
  async reload(): Promise<void> {
    this.load(await readKeyring(this.path, { allowInsecurePermissions: this.options.allowInsecurePermissions ?? false }));
    this.lastReloadFailure = undefined;
  }

  primaryKeyId(): string {
    return this.primary.id;
  }

  handles(keyId: string): boolean {
    return this.keks.has(keyId);
  }

  async generateDataKey(scope: Scope): Promise<GeneratedDataKey> {
    const kek = this.primary;
    const plaintext = Uint8Array.from(this.random(32));
    const wrapped = sealWithRandomNonce('AES-256-GCM', this.material(kek), plaintext, wrapAad(kek.id, scope), this.random);
    return { plaintext, wrapped, keyId: kek.id };
  }

  async decryptDataKey(keyId: string, wrapped: Uint8Array, scope: Scope): Promise<Uint8Array> {
    const kek = this.keks.get(keyId);
    if (kek === undefined) throw new UnknownKeyError(`key ${JSON.stringify(keyId)} is not in keyring ${this.path}`);
    if (kek.state === 'retired') throw new KeyRetiredError(`key ${JSON.stringify(keyId)} is retired and no longer decrypts`);
    const dek = openSealed('AES-256-GCM', this.material(kek), wrapped, wrapAad(kek.id, scope));
    if (dek.length !== 32) throw new MalformedPayloadError(`wrapped key expected 32 bytes inside, got ${dek.length}`);
    return dek;
  }

  async listKeys(): Promise<readonly KekInfo[]> {
    return [...this.keks.values()]
      .sort((a, b) => a.version - b.version)
      .map((k) => ({ id: k.id, provider: this.name, state: k.state, created: k.created }));
  }

  /**
   * Ready when the file still reads and validates: not deleted, replaced by a directory, corrupted
   * or opened up to other users since (its mode is checked on every call, as on every watch tick).
   */
  async checkReady(): Promise<void> {
    if (this.path !== '(memory)') await this.reload();
    this.material(this.primary);
  }

  close(): void {
    this.watch?.close();
    this.watch = undefined;
  }

  private load(doc: KeyringDocument): void {
    const next = new Map<string, LoadedKek>();
    let primary: LoadedKek | undefined;
    for (const e of doc.keys) {
      const kek: LoadedKek = {
        id: e.id,
        version: e.version,
        state: e.state,
        created: e.created,
        material: e.material === undefined ? undefined : Uint8Array.from(Buffer.from(e.material, 'base64')),
      };
      next.set(kek.id, kek);
      if (kek.state === 'primary') primary = kek;
    }
    if (primary === undefined) throw new KeyringError(`keyring ${this.path} has no primary key`);
    const old = this.keks;
    this.keks = next;
    this.primary = primary;
    for (const k of old.values()) k.material?.fill(0);
  }

  private material(kek: LoadedKek): Uint8Array {
    if (kek.material === undefined) throw new KeyRetiredError(`key ${JSON.stringify(kek.id)} was destroyed`);
    return kek.material;
  }
}

function wrapAad(keyId: string, scope: Scope): Uint8Array {
  if (isBranchKeyScope(scope)) return lengthPrefixed([BRANCH_WRAP_LABEL, utf8.encode(keyId), utf8.encode(scope.namespace)]);
  return lengthPrefixed([WRAP_LABEL, utf8.encode(keyId), ...scopeFields(scope)]);
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}
