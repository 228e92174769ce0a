import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { KeyringError } from '../primitives/errors.js';
import { SAMPLES_KEY_KIND } from '../primitives/samples-format.js';
import { isoTime, parseKeyFile, validateKeyFile } from './file-schema.js';

/**
 * The legacy key file: keys of the Temporal samples' encryption codec, imported so that payloads
 * they sealed keep opening while workers move to the envelope. Decrypt-only by construction: a
 * file of its own (never the keyring, so a legacy key can never become a primary, and teams on AWS
 * KMS migrate the same way), JSON, mode 0600 like the keyring.
 *
 *   { "format": "temporal-envelope-legacy-keys/v1",
 *     "keys": [ { "id": "<the encryption-key-id the samples wrote>", "kind": "samples-aes-256-gcm",
 *                 "state": "decrypt-only", "added": "2026-11-29T10:00:00.000Z",
 *                 "material": "<base64, 32 bytes>" } ] }
 *
 * This module reads it; `keys import-legacy` and `keys retire` write it (keys/admin/legacy-keys.ts).
 */
export const LEGACY_KEYS_FORMAT = 'temporal-envelope-legacy-keys/v1' as const;

export const DEFAULT_LEGACY_KEYS_PATH = path.join(os.homedir(), '.temporal-envelope', 'legacy-keys.json');

export const legacyKeyEntrySchema = z
  .looseObject({
    // Whatever the team configured in the samples codec: any text but control characters.
    id: z
      .string()
      .min(1, 'expected a non-empty key id')
      .max(256, 'expected at most 256 characters')
      .refine((id) => !/[\u0000-\u001f\u007f]/.test(id), 'expected no control characters'),
    kind: z.literal(SAMPLES_KEY_KIND),
    state: z.enum(['decrypt-only', 'retired']),
    added: isoTime,
    retired: isoTime.optional(),
    /** base64 of 32 bytes; absent once retired with `--destroy`. */
    material: z
      .string()
      .refine((m) => Buffer.from(m, 'base64').length === 32, 'expected base64 of 32 bytes')
      .optional(),
  })
  .refine((e) => e.material !== undefined || e.state === 'retired', { message: 'is missing but the key is not retired', path: ['material'] });

export const legacyKeysSchema = z
  .looseObject({
    format: z.literal(LEGACY_KEYS_FORMAT),
    keys: z.array(legacyKeyEntrySchema),
  })
  .superRefine((doc, ctx) => {
    const seen = new Set<string>();
    doc.keys.forEach((k, i) => {
      if (seen.has(k.id)) ctx.addIssue({ code: 'custom', path: ['keys', i, 'id'], message: `${JSON.stringify(k.id)} appears twice` });
      seen.add(k.id);
    });
  });

export type LegacyKeysDocument = z.infer<typeof legacyKeysSchema>;
export type LegacyKeyEntry = LegacyKeysDocument['keys'][number];

export function validateLegacyKeys(doc: unknown, file: string): LegacyKeysDocument {
  return validateKeyFile(legacyKeysSchema, doc, `legacy key file ${file}`);
}

/** Read and validate a legacy key file; refuses one other users can read, as the keyring does. */
export async function readLegacyKeys(file: string, options: { allowInsecurePermissions?: boolean | undefined } = {}): Promise<LegacyKeysDocument> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new KeyringError(`legacy key file ${file} does not exist; create it with "temporal-envelope keys import-legacy"`, { cause });
    throw new KeyringError(`legacy key file ${file} cannot be read: ${code ?? 'error'}`, { cause });
  }
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0 && options.allowInsecurePermissions !== true) {
    throw new KeyringError(`legacy key file ${file} is readable by other users (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600 on it`);
  }
  return parseKeyFile(legacyKeysSchema, await fs.readFile(file, 'utf8'), `legacy key file ${file}`);
}
