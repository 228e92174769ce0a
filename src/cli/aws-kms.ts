import { InvalidConfigError } from '../../codecs/errors.js';
import type { KeyProvider } from '../../keys/key-provider.js';
import type { KeyInfo } from './commands/keys.js';
import type { KeySourceOptions } from './options.js';

export async function openAwsKmsProvider(_source: KeySourceOptions, _options: { watch: boolean }): Promise<KeyProvider> {
  throw new InvalidConfigError('--provider aws-kms is not available in this build yet');
}

export async function initAwsKeyConfig(_source: KeySourceOptions, _kmsKey: string | undefined): Promise<{ id: string }> {
  throw new InvalidConfigError('--provider aws-kms is not available in this build yet');
}
export async function rotateAwsKeyConfig(_source: KeySourceOptions, _newKey: string | undefined): Promise<{ primary: { id: string }; previous: { id: string } }> {
  throw new InvalidConfigError('--provider aws-kms is not available in this build yet');
}
export async function listAwsKeys(_source: KeySourceOptions): Promise<KeyInfo[]> {
  throw new InvalidConfigError('--provider aws-kms is not available in this build yet');
}
export async function retireAwsKey(_source: KeySourceOptions, _id: string, _o: unknown): Promise<KeyInfo> {
  throw new InvalidConfigError('--provider aws-kms is not available in this build yet');
}
