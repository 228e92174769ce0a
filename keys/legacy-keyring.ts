import path from 'node:path';
import { KeyRetiredError, UnknownKeyError } from '../primitives/errors.js';
import { watchFile, type FileWatch } from '../primitives/files.js';
import { ForwardingProvider } from './forwarding-provider.js';
import type { KeyProvider } from './key-provider.js';
import { readLegacyKeys, type LegacyKeysDocument } from './legacy-key-file.js';

export interface LegacyKeyringOptions {
  path: string;
  /** Re-read the file when it changes (a `keys retire` reaches running workers). 0: never. Default 2000 ms. */
  watchIntervalMs?: number;
  allowInsecurePermissions?: boolean | undefined;
  warn?: ((message: string) => void) | undefined;
}

export interface LegacyKeyInfo {
  readonly id: string;
  readonly kind: string;
  readonly state: 'decrypt-only' | 'retired';
  readonly added: string;
  readonly retired?: string | undefined;
  readonly destroyed: boolean;
}

interface LoadedLegacyKey {
  readonly info: LegacyKeyInfo;
  readonly material: Uint8Array | undefined;
}

/**
 * The keys of the Temporal samples' encryption codec (keys/legacy-key-file.ts), held for decrypting
 * old payloads only. Nothing here seals: the codec never writes the samples' format.
 */
export class LegacyKeyring {
  private keys = new Map<string, LoadedLegacyKey>();
  private watch: FileWatch | undefined;

  private constructor(
    readonly path: string,
    private readonly options: Omit<LegacyKeyringOptions, 'path'>,
  ) {}

  static async open(options: LegacyKeyringOptions): Promise<LegacyKeyring> {
    const ring = new LegacyKeyring(path.resolve(options.path), options);
    const interval = options.watchIntervalMs ?? 2000;
    if (interval > 0) {
      ring.watch = watchFile(ring.path, () => ring.reload(), {
        intervalMs: interval,
        onError: (err) => (options.warn ?? console.warn)(`temporal-envelope: legacy key file reload failed, keeping the loaded keys: ${err.message}`),
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

  /** From a document in memory (tests). */
  static fromDocument(doc: LegacyKeysDocument): LegacyKeyring {
    const ring = new LegacyKeyring('(memory)', {});
    ring.load(doc);
    return ring;
  }

  async reload(): Promise<void> {
    this.load(await readLegacyKeys(this.path, { allowInsecurePermissions: this.options.allowInsecurePermissions }));
  }

  /** Whether `keyId` names a key in this file, usable or retired: its payloads are ours to answer for. */
  knows(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  /**
   * A copy of the key's 32 bytes; the caller wipes it. KEY_RETIRED for a retired (or destroyed)
   * key, UNKNOWN_KEY for an id not in the file.
   */
  material(keyId: string): Uint8Array {
    const k = this.keys.get(keyId);
    if (k === undefined) throw new UnknownKeyError(`legacy key ${JSON.stringify(keyId)} is not in ${this.path}`);
    if (k.info.state === 'retired' || k.material === undefined) {
      throw new KeyRetiredError(`legacy key ${JSON.stringify(keyId)} is retired${k.material === undefined ? ' and destroyed' : ''} and no longer decrypts`);
    }
    return Uint8Array.from(k.material);
  }

  list(): LegacyKeyInfo[] {
    return [...this.keys.values()].map((k) => k.info);
  }

  close(): void {
    this.watch?.close();
    this.watch = undefined;
  }

  private load(doc: LegacyKeysDocument): void {
    const next = new Map<string, LoadedLegacyKey>();
    for (const e of doc.keys) {
      next.set(e.id, {
        info: { id: e.id, kind: e.kind, state: e.state, added: e.added, retired: e.retired, destroyed: e.material === undefined },
        material: e.material === undefined ? undefined : Uint8Array.from(Buffer.from(e.material, 'base64')),
      });
    }
    const old = this.keys;
    this.keys = next;
    for (const k of old.values()) k.material?.fill(0);
  }
}

/**
 * A key provider that also carries a legacy keyring, as openKeyProviders returns it when
 * `legacyKeys` is set; EnvelopeCodec picks the legacy keyring up from it. Everything else is the
 * inner provider's.
 */
export class WithLegacyKeys extends ForwardingProvider {
  constructor(
    inner: KeyProvider,
    readonly legacyKeyring: LegacyKeyring,
  ) {
    super(inner);
  }
  override async checkReady(): Promise<void> {
    await this.inner.checkReady();
    if (this.legacyKeyring.path !== '(memory)') await this.legacyKeyring.reload();
  }
  override async close(): Promise<void> {
    this.legacyKeyring.close();
    await this.inner.close?.();
  }
}

/** The legacy keyring a provider carries, if any. */
export function legacyKeyringOf(provider: KeyProvider): LegacyKeyring | undefined {
  return provider instanceof WithLegacyKeys ? provider.legacyKeyring : undefined;
}
