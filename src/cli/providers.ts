import { openKeyProviders } from '../../keys/assemble.js';
import type { KeyProvider } from '../../keys/key-provider.js';
import { quietAwsSdk } from './aws-sdk.js';
import type { KeySourceOptions } from './options.js';

/**
 * The KeyProvider a one-shot command (encode, decode) works with: the command's flags as the
 * options of the one assembler. No watching (the command reads its keys once) and no keyring is
 * created: a missing one is an error naming the path and `keys init`. Commands that only edit key
 * files do not open a provider: they never need the keys in memory.
 */
export async function openKeyProvider(source: KeySourceOptions): Promise<KeyProvider> {
  if (source.provider === 'aws-kms') quietAwsSdk();
  return openKeyProviders({
    provider: source.provider,
    local: { path: source.keyring },
    awsKms: { keyConfigFile: source.keyConfig, region: source.region, endpoint: source.kmsEndpoint },
    watchIntervalMs: 0,
    shredStore: source.shredStore,
    legacyKeys: source.legacyKeys === undefined ? undefined : { path: source.legacyKeys },
  });
}
