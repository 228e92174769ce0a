import { InvalidConfigError } from '../../primitives/errors.js';
import type { KeyProvider } from '../../keys/key-provider.js';
import { LocalKeyring } from '../../keys/local-keyring.js';
import { FileScopeSecretStore } from '../../keys/shred-store.js';
import { ShreddableKeyProvider } from '../../keys/shreddable-provider.js';
import type { KeySourceOptions } from './options.js';

/**
 * The KeyProvider a one-shot command (encode, decode, keys show …) works with. Commands that only
 * edit the keyring file do not open a provider: they never need the keys in memory.
 */
export async function openKeyProvider(source: KeySourceOptions): Promise<KeyProvider> {
  let provider: KeyProvider;
  if (source.provider === 'local') {
    // No watch: a one-shot command reads the keyring once.
    provider = await LocalKeyring.open({ path: source.keyring, create: false, watchIntervalMs: 0 });
  } else {
    const { openAwsKmsProvider } = await import('./aws-kms.js');
    provider = await openAwsKmsProvider(source, { watch: false });
  }
  if (source.shredStore !== undefined) provider = new ShreddableKeyProvider(provider, new FileScopeSecretStore(source.shredStore));
  return provider;
}

export function requireProvider(source: KeySourceOptions, expected: KeySourceOptions['provider'], what: string): void {
  if (source.provider !== expected) throw new InvalidConfigError(`${what} needs --provider ${expected}, got ${source.provider}`);
}
