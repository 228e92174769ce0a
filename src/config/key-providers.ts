import type { KeyProvidersOptions } from '../../keys/assemble.js';
import type { ShredStoreOptions } from '../../keys/shred-store-options.js';
import type { ServerConfig } from './schema.js';

/** The config's `keys` section as the options of keys/assemble.ts's openKeyProviders: what each field means, in one place. */
export function keyProvidersOptions(keys: ServerConfig['keys']): KeyProvidersOptions {
  return {
    provider: keys.provider,
    local: { path: keys.local.path },
    awsKms: keys.awsKms,
    watchIntervalMs: keys.provider === 'local' ? keys.local.watchIntervalMs : undefined,
    shredStore: shredStoreOptions(keys),
    legacyKeys: keys.legacyKeys === undefined ? undefined : { path: keys.legacyKeys.path },
  };
}

/** The config's shred store as the store's own options (without the server's watch interval). */
export function shredStoreOptions(keys: ServerConfig['keys']): ShredStoreOptions | undefined {
  if (keys.shredStore === undefined) return undefined;
  const { watchIntervalMs: _interval, ...store } = keys.shredStore;
  return store;
}
