import { InvalidConfigError } from '../primitives/errors.js';
import { AwsKmsKeyring, type AwsKmsKey, type AwsKmsKeyringOptions } from './aws-kms-keyring.js';
import type { KeyProvider } from './key-provider.js';
import { LegacyKeyring, WithLegacyKeys } from './legacy-keyring.js';
import { LocalKeyring } from './local-keyring.js';
import { ResilientProvider, type ResilienceOptions } from './resilient-provider.js';
import type { ScopeSecretStore } from './shred-store.js';
import { openScopeSecretStore, type ShredStoreInput } from './shred-store-options.js';
import { ShreddableKeyProvider } from './shreddable-provider.js';

/**
 * What `openKeyProviders` builds: where the KEKs are, and what goes around them. A plain object,
 * so the codec server's config, the CLI's flags and a worker's code all say it the same way.
 */
export interface KeyProvidersOptions {
  /** Where the KEKs are: the local keyring file, or AWS KMS. Default "local". */
  provider?: 'local' | 'aws-kms';
  local?: {
    /** Default ~/.temporal-envelope/keyring.json. */
    path?: string | undefined;
    /**
     * Create the keyring (one new primary KEK) when the file is missing. Default false: a mistyped
     * path must fail, not start sealing with keys nobody else holds. `keys init` and the codec
     * server's dev mode create keyrings.
     */
    create?: boolean;
    /** Skip the mode-0600 check (filesystems without modes). Default false. */
    allowInsecurePermissions?: boolean;
  };
  awsKms?: Omit<AwsKmsKeyringOptions, 'keys'> & {
    /** The key config file `keys init --provider aws-kms` writes (KMS keys, primary first), watched for rotations. */
    keyConfigFile?: string | undefined;
    /** Or the keys themselves, primary first. */
    keys?: readonly AwsKmsKey[] | undefined;
  };
  /** How often the keyring or key config file is re-read to pick up a rotation; 0: never (one-shot commands). Default 2000 ms. */
  watchIntervalMs?: number;
  /**
   * Retries with backoff and a circuit breaker around AWS KMS (ResilientProvider): at most
   * `maxAttempts` (3) KMS requests per operation. Default on; `false` leaves a single attempt.
   */
  resilience?: ResilienceOptions | false;
  /**
   * A shred store shared by every worker and codec server: new payloads are sealed crypto-shreddably
   * and `shred:` payloads open; without one they cannot. A directory or location string
   * (`dynamodb://…`, `postgres://…`), the options of one (`{ type: 'dynamodb', table, region }`,
   * see keys/shred-store-options.ts), or a ScopeSecretStore. A store opened from options is closed
   * with the provider; a store passed in stays the caller's to close.
   */
  shredStore?: string | ShredStoreInput | ScopeSecretStore | undefined;
  /**
   * A legacy key file (`keys import-legacy`): keys of the Temporal samples' encryption codec, so
   * payloads it sealed keep opening (decrypt-only) while new ones are sealed in the envelope.
   * Watched like the keyring. Default none.
   */
  legacyKeys?: { path: string; allowInsecurePermissions?: boolean | undefined } | undefined;
  /** Told when a keyring is created and when a reload fails. Default console.warn. */
  warn?: (message: string) => void;
}

/**
 * The one place key providers are assembled: the local keyring or AWS KMS (its keys, or its key
 * config file), AWS KMS wrapped in ResilientProvider, the whole wrapped in ShreddableKeyProvider
 * when a shred store is given, with the legacy keyring when one is given. The codec server, the CLI and library users all call this; the
 * result goes to `new EnvelopeCodec({ keyProviders })` and is closed with `close()`.
 */
export async function openKeyProviders(options: KeyProvidersOptions = {}): Promise<KeyProvider> {
  const watchIntervalMs = options.watchIntervalMs ?? 2000;
  let provider: KeyProvider;
  if ((options.provider ?? 'local') === 'aws-kms') {
    const { keyConfigFile, keys, ...client } = options.awsKms ?? {};
    let ring: AwsKmsKeyring;
    if (keyConfigFile !== undefined) ring = await AwsKmsKeyring.fromKeyConfigFile(keyConfigFile, { ...client, watchIntervalMs, warn: options.warn });
    else if (keys !== undefined && keys.length > 0) ring = new AwsKmsKeyring({ ...client, keys });
    else throw new InvalidConfigError('aws-kms needs a key config file ("keyConfigFile") or its "keys"');
    provider = options.resilience === false ? ring : new ResilientProvider(ring, options.resilience ?? {});
  } else {
    provider = await LocalKeyring.open({
      path: options.local?.path,
      create: options.local?.create ?? false,
      allowInsecurePermissions: options.local?.allowInsecurePermissions,
      watchIntervalMs,
      warn: options.warn,
    });
  }
  if (options.shredStore !== undefined) {
    const given = options.shredStore;
    const owned = typeof given === 'string' || !isStore(given);
    let store: ScopeSecretStore;
    try {
      store = owned ? await openScopeSecretStore(given as string | ShredStoreInput, { warn: options.warn }) : given;
    } catch (err) {
      await provider.close?.();
      throw err;
    }
    provider = new ShreddableKeyProvider(provider, store, { closeStore: owned });
  }
  if (options.legacyKeys !== undefined) {
    let legacy: LegacyKeyring;
    try {
      legacy = await LegacyKeyring.open({ ...options.legacyKeys, watchIntervalMs, warn: options.warn });
    } catch (err) {
      await provider.close?.();
      throw err;
    }
    provider = new WithLegacyKeys(provider, legacy);
  }
  return provider;
}

function isStore(value: ShredStoreInput | ScopeSecretStore): value is ScopeSecretStore {
  return typeof (value as Partial<ScopeSecretStore>).getOrCreate === 'function';
}
