import { AwsKmsKeyring } from '../../keys/aws-kms-keyring.js';
import type { KeyProvider } from '../../keys/key-provider.js';
import { LocalKeyring } from '../../keys/local-keyring.js';
import type { ServerConfig } from '../config/schema.js';

/** The KEK provider the config names. */
export async function openKeyProvider(config: ServerConfig['keys'], warn: (m: string) => void): Promise<KeyProvider> {
  if (config.provider === 'aws-kms') {
    const kms = config.awsKms!;
    const common = {
      ...(kms.region ? { region: kms.region } : {}),
      ...(kms.endpoint ? { endpoint: kms.endpoint } : {}),
      requestTimeoutMs: kms.requestTimeoutMs,
    };
    if (kms.keyConfigFile) return AwsKmsKeyring.fromKeyConfigFile(kms.keyConfigFile, { ...common, warn });
    return new AwsKmsKeyring({ ...common, keys: kms.keys ?? [] });
  }
  return LocalKeyring.open({ ...(config.local.path ? { path: config.local.path } : {}), watchIntervalMs: config.local.watchIntervalMs, warn });
}
