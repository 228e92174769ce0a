import { KeyringError } from '../../primitives/errors.js';
import { writeFileAtomic } from '../../primitives/files.js';
import { KMS_KEY_CONFIG_FORMAT, kmsKeyConfigText, readKmsKeyConfig, type KmsKeyConfig, type KmsKeyEntry } from '../kms-key-config.js';
import { withFileLock } from './lock.js';

/**
 * Key-management operations on an AWS KMS key config (keys/kms-key-config.ts), as
 * `temporal-envelope keys … --provider aws-kms` runs them: each a read-modify-write under the
 * file's lock.
 */

/** Replace the key config with `doc` (validated first), atomically. No secrets in it, but it decides which key protects everything: 0600. */
export async function writeKmsKeyConfig(file: string, doc: KmsKeyConfig): Promise<void> {
  await writeFileAtomic(file, kmsKeyConfigText(file, doc));
}

export async function initKmsKeyConfig(file: string, keyId: string, now = new Date()): Promise<KmsKeyEntry> {
  const entry: KmsKeyEntry = { keyId, state: 'primary', added: now.toISOString() };
  if (!(await writeFileAtomic(file, kmsKeyConfigText(file, { format: KMS_KEY_CONFIG_FORMAT, keys: [entry] }), { exclusive: true }))) {
    throw new KeyringError(`key config ${file} already exists; refusing to overwrite it (use "keys rotate --provider aws-kms --new-key …")`);
  }
  return entry;
}

/** Put `keyId` first as the primary; the old primary becomes decrypt-only. */
export async function rotateKmsKeyConfig(file: string, keyId: string, now = new Date()): Promise<{ previous: KmsKeyEntry; primary: KmsKeyEntry }> {
  return withFileLock(file, async () => {
    const doc = await readKmsKeyConfig(file);
    const existing = doc.keys.find((k) => k.keyId === keyId);
    if (existing !== undefined) {
      throw new KeyringError(
        existing.state === 'primary'
          ? `${keyId} is already the primary`
          : `${keyId} is already in ${file} (${existing.state}); a key that was used before cannot become primary again through rotate`,
      );
    }
    const previous = doc.keys[0] as KmsKeyEntry;
    previous.state = 'decrypt-only';
    previous.demoted = now.toISOString();
    const primary: KmsKeyEntry = { keyId, state: 'primary', added: now.toISOString() };
    doc.keys.unshift(primary);
    await writeKmsKeyConfig(file, doc);
    return { previous: { ...previous }, primary: { ...primary } };
  });
}

export async function retireKmsKey(
  file: string,
  keyId: string,
  options: { now?: Date; check?: (entry: KmsKeyEntry) => void | Promise<void> } = {},
): Promise<KmsKeyEntry> {
  return withFileLock(file, async () => {
    const doc = await readKmsKeyConfig(file);
    const entry = doc.keys.find((k) => k.keyId === keyId);
    if (entry === undefined) throw new KeyringError(`key ${JSON.stringify(keyId)} is not in key config ${file}`);
    if (entry.state === 'primary') throw new KeyringError(`key ${JSON.stringify(keyId)} is the primary; rotate first, then retire it`);
    if (entry.state === 'retired') throw new KeyringError(`key ${JSON.stringify(keyId)} is already retired`);
    await options.check?.(entry);
    entry.state = 'retired';
    entry.retired = (options.now ?? new Date()).toISOString();
    await writeKmsKeyConfig(file, doc);
    return { ...entry };
  });
}
