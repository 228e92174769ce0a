import { DescribeKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { createKmsClient } from '../../keys/aws-kms-keyring.js';
import { mapKmsError } from '../../keys/kms-errors.js';
import { InvalidConfigError, KmsAccessDeniedError } from '../../primitives/errors.js';
import { initKmsKeyConfig, retireKmsKey, rotateKmsKeyConfig } from '../../keys/admin/rotation-kms.js';
import { isKmsKeyId } from '../../keys/kms-key-config.js';
import { quietAwsSdk } from './aws-sdk.js';
import { kmsKeyInfo, type KeyInfo } from './key-info.js';
import { UsageError } from './errors.js';
import type { KeySourceOptions } from './options.js';

/**
 * `--provider aws-kms` for the CLI: the key config file (keys/kms-key-config.ts) is the list of KMS
 * keys; KMS itself is asked only to check that a key the operator names exists and can wrap data
 * keys, before it becomes primary — a typo found at rotation, not at the first workflow task.
 */


function kmsClient(source: KeySourceOptions): KMSClient {
  quietAwsSdk();
  const region = source.region ?? process.env.AWS_DEFAULT_REGION;
  if (region === undefined || region === '') throw new UsageError('--region (or AWS_REGION) is required with --provider aws-kms');
  return createKmsClient({ region, endpoint: source.kmsEndpoint });
}

/** The key must exist, be enabled, and be a symmetric encrypt/decrypt key. */
export async function checkKmsKey(source: KeySourceOptions, keyId: string, flag: string): Promise<void> {
  if (!isKmsKeyId(keyId)) throw new UsageError(`${flag} ${JSON.stringify(keyId)} is not a KMS key ARN, key id or alias/<name>`);
  const client = kmsClient(source);
  try {
    const out = await client.send(new DescribeKeyCommand({ KeyId: keyId }));
    const meta = out.KeyMetadata;
    if (meta?.KeyState !== 'Enabled') throw new KmsAccessDeniedError(`KMS key ${keyId} is ${meta?.KeyState ?? 'in an unknown state'}, not Enabled`);
    // Absent fields mean the defaults (AWS always sends them; some compatible endpoints do not).
    if ((meta.KeyUsage ?? 'ENCRYPT_DECRYPT') !== 'ENCRYPT_DECRYPT' || (meta.KeySpec ?? 'SYMMETRIC_DEFAULT') !== 'SYMMETRIC_DEFAULT') {
      throw new InvalidConfigError(`${flag} ${keyId} must be a symmetric ENCRYPT_DECRYPT key (it is ${meta.KeySpec ?? '?'} / ${meta.KeyUsage ?? '?'})`);
    }
  } catch (err) {
    throw mapKmsError(err, 'DescribeKey', keyId);
  } finally {
    client.destroy();
  }
}

export async function initAwsKeyConfig(source: KeySourceOptions, kmsKey: string | undefined): Promise<KeyInfo> {
  if (kmsKey === undefined) throw new UsageError('--kms-key <arn|alias> is required with --provider aws-kms');
  await checkKmsKey(source, kmsKey, '--kms-key');
  return kmsKeyInfo(await initKmsKeyConfig(source.keyConfig, kmsKey));
}

export async function rotateAwsKeyConfig(source: KeySourceOptions, newKey: string | undefined): Promise<{ keyConfig: string; primary: KeyInfo; previous: KeyInfo }> {
  if (newKey === undefined) throw new UsageError('--new-key <arn|alias> is required with --provider aws-kms: KMS keys are created in AWS, this names the one to use');
  await checkKmsKey(source, newKey, '--new-key');
  const { previous, primary } = await rotateKmsKeyConfig(source.keyConfig, newKey);
  return { keyConfig: source.keyConfig, primary: kmsKeyInfo(primary), previous: kmsKeyInfo(previous) };
}

export async function retireAwsKey(
  source: KeySourceOptions,
  id: string,
  options: { destroy: boolean; check: (key: { id: string; created?: string | undefined; demoted?: string | undefined }) => Promise<void> },
): Promise<KeyInfo> {
  if (options.destroy) {
    throw new UsageError('--destroy is refused for KMS keys: disabling or scheduling deletion of a KMS key is done in AWS, under its own IAM controls');
  }
  return kmsKeyInfo(await retireKmsKey(source.keyConfig, id, { check: (e) => options.check({ id: e.keyId, created: e.added, demoted: e.demoted }) }));
}
