import { promises as fs } from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';
import { KeyringError } from '../primitives/errors.js';
import { watchFile, type FileWatch } from '../primitives/files.js';
import { directoryInstead, isoTime, parseKeyFile, validateKeyFile } from './file-schema.js';

/**
 * The AWS KMS key config: which KMS keys a deployment uses, primary first. KMS keeps the key
 * material; this small file is what `keys rotate --provider aws-kms` edits and what running workers
 * re-read (watchKmsKeyConfig) to switch primaries without a restart.
 *
 *   { "format": "temporal-envelope-kms-keys/v1",
 *     "keys": [ { "keyId": "alias/te-2026", "state": "primary",      "added": "2026-12-24T10:00:00.000Z" },
 *               { "keyId": "arn:aws:kms:…:key/…", "state": "decrypt-only", "added": "…", "demoted": "…" } ] }
 *
 * `keyId` is written into every payload's `encryption-key-id` exactly as given here (an ARN, key id
 * or alias), so it is also what `keys usage` counts and `keys retire` names. JSON, or YAML when the
 * file name ends in .yaml/.yml.
 */
export const KMS_KEY_CONFIG_FORMAT = 'temporal-envelope-kms-keys/v1';

const KEY_ID = /^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[A-Za-z0-9/_-]+|alias\/[A-Za-z0-9/_-]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;

export function isKmsKeyId(value: string): boolean {
  return KEY_ID.test(value) && value.length <= 2048;
}

function isYaml(file: string): boolean {
  return /\.ya?ml$/i.test(file);
}

const kmsKeyEntrySchema = z.looseObject({
  keyId: z.string().refine(isKmsKeyId, 'expected a KMS key ARN, key id or alias/name'),
  state: z.enum(['primary', 'decrypt-only', 'retired']),
  added: isoTime,
  /** When it stopped being primary. */
  demoted: isoTime.optional(),
  retired: isoTime.optional(),
});

export const kmsKeyConfigSchema = z
  .looseObject({
    format: z.literal(KMS_KEY_CONFIG_FORMAT),
    keys: z.array(kmsKeyEntrySchema).min(1),
  })
  .superRefine((doc, ctx) => {
    const seen = new Set<string>();
    doc.keys.forEach((k, i) => {
      if ((k.state === 'primary') !== (i === 0)) ctx.addIssue({ code: 'custom', path: ['keys', i, 'state'], message: 'the first key, and only the first, must be "primary"' });
      if (seen.has(k.keyId)) ctx.addIssue({ code: 'custom', path: ['keys', i, 'keyId'], message: `${JSON.stringify(k.keyId)} appears twice` });
      seen.add(k.keyId);
    });
  });

export type KmsKeyConfig = z.infer<typeof kmsKeyConfigSchema>;
export type KmsKeyEntry = KmsKeyConfig['keys'][number];

export function validateKmsKeyConfig(doc: unknown, file: string): KmsKeyConfig {
  return validateKeyFile(kmsKeyConfigSchema, doc, `key config ${file}`);
}

export async function readKmsKeyConfig(file: string): Promise<KmsKeyConfig> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new KeyringError(`key config ${file} does not exist; create it with "temporal-envelope keys init --provider aws-kms --kms-key <arn|alias>"`);
    }
    if (code === 'EISDIR') throw directoryInstead(`key config ${file}`, 'a key config file');
    throw new KeyringError(`key config ${file} cannot be read: ${code ?? 'error'}`, { cause });
  }
  return parseKeyFile(kmsKeyConfigSchema, text, `key config ${file}`, isYaml(file) ? 'yaml' : 'json');
}

/**
 * Re-read the key config whenever it changes and hand the keys (primary first, retired ones
 * included with their state) to `apply` — e.g. `(keys) => keyring.setKeys(…)`. A broken file is
 * reported to `onError` and the keys already applied stay in force.
 */
export function watchKmsKeyConfig(
  file: string,
  apply: (keys: readonly KmsKeyEntry[]) => void,
  options: { intervalMs?: number; onError?: (err: Error) => void } = {},
): FileWatch {
  return watchFile(file, async () => apply((await readKmsKeyConfig(file)).keys), { intervalMs: options.intervalMs ?? 2000, onError: options.onError });
}

/** The file's text for a document: JSON, or YAML when the name ends in .yaml/.yml. */
export function kmsKeyConfigText(file: string, doc: KmsKeyConfig): string {
  validateKmsKeyConfig(doc, file);
  return isYaml(file) ? YAML.stringify(doc) : `${JSON.stringify(doc, null, 2)}\n`;
}
