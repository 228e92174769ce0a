import type { KeyProvidersOptions } from '../../keys/assemble.js';
import type { ServerConfig } from './schema.js';

/** The config's `keys` section as the options of keys/assemble.ts's openKeyProviders: what each field means, in one place. */
export function keyProvidersOptions(keys: ServerConfig['keys']): KeyProvidersOptions {
  return {
    provider: keys.provider,
    local: { path: keys.local.path },
    awsKms: keys.awsKms,
    watchIntervalMs: keys.provider === 'local' ? keys.local.watchIntervalMs : undefined,
    shredStore: keys.shredStore?.path,
    legacyKeys: keys.legacyKeys === undefined ? undefined : { path: keys.legacyKeys.path },
  };
}
