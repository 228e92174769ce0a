import { AwsKmsKeyring } from '../../keys/aws-kms-keyring.js';
import type { KeyProvider } from '../../keys/key-provider.js';
import { LocalKeyring } from '../../keys/local-keyring.js';
import { ResilientProvider } from '../../keys/resilient-provider.js';
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
    // Retries with jitter and a circuit breaker, so a KMS outage is not met with a request storm.
    if (kms.keyConfigFile) return new ResilientProvider(await AwsKmsKeyring.fromKeyConfigFile(kms.keyConfigFile, { ...common, warn }));
    return new ResilientProvider(new AwsKmsKeyring({ ...common, keys: kms.keys ?? [] }));
  }
  return LocalKeyring.open({ ...(config.local.path ? { path: config.local.path } : {}), watchIntervalMs: config.local.watchIntervalMs, warn });
}
