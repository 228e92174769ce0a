export { LocalKeyring, DEFAULT_KEYRING_PATH } from './local-keyring.js';
export type { LocalKeyringOptions } from './local-keyring.js';
export { DataKeyCache } from './dek-cache.js';
export type { DekCacheLimits, DekCacheOptions, LeasedDataKey } from './dek-cache.js';
export {
  KEYRING_FORMAT,
  newKeyringDocument,
  readKeyring,
  writeKeyring,
  keyringExists,
} from './keyring-file.js';
export type { KeyringDocument, KeyringEntry } from './keyring-file.js';
export type { KeyProvider, KeyObserver, KekInfo, KekState, GeneratedDataKey } from './key-provider.js';
export { ShreddableKeyProvider, forgetShreddedScopes, kekIdOf, isShreddableKeyId, SHRED_KEY_PREFIX } from './shreddable-provider.js';
export { FileScopeSecretStore } from './shred-store.js';
export type { ScopeSecretStore, ScopeSecretStatus, ShredOutcome, ShredEvent } from './shred-store.js';
export { AwsKmsKeyring, mapKmsError } from './aws-kms-keyring.js';
export type { AwsKmsKey, AwsKmsKeyringOptions } from './aws-kms-keyring.js';
export { ResilientProvider } from './resilient-provider.js';
export type { ResilienceOptions } from './resilient-provider.js';
export { ForwardingProvider } from './forwarding-provider.js';
