export { loadConfig, validateConfig, ENV_OVERRIDES } from './load.js';
export type { LoadConfigOptions } from './load.js';
export { configSchema } from './schema.js';
export type { ServerConfig, ConfigInput, PolicyRule } from './schema.js';
export { sha256Hex } from './token-hash.js';
export { keyProvidersOptions } from './key-providers.js';
