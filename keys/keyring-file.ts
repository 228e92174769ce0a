import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { z } from 'zod';
import { KeyringError } from '../primitives/errors.js';
import { writeFileAtomic } from '../primitives/files.js';
import { base64Key, directoryInstead, isoTime, parseKeyFile, validateKeyFile } from './file-schema.js';

/**
 * The local keyring file: JSON, mode 0600, versioned KEKs of which exactly one is primary.
 *
 *   { "format": "temporal-envelope-keyring/v1",
 *     "keys": [ { "id": "local-1-3f9a0c1d", "version": 1, "state": "primary",
 *                 "created": "2026-11-24T10:00:00.000Z", "material": "<base64, 32 bytes>" } ] }
 *
 * Every write is atomic (primitives/files.ts), so a reader (a worker watching the file) never sees
 * half a keyring. This module reads keyrings and creates new ones; rotating and retiring the keys
 * in one is admin work (keys/admin/rotation.ts).
 */
export const KEYRING_FORMAT = 'temporal-envelope-keyring/v1';

const keyringEntrySchema = z
  .looseObject({
    id: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'expected 1-128 of [A-Za-z0-9._:-]'),
    version: z.number().int().min(1, 'expected a whole number >= 1'),
    state: z.enum(['primary', 'decrypt-only', 'retired']),
    created: isoTime,
    /** Canonical base64 of 32 bytes; absent once retired with destruction (`retire --destroy`). */
    material: base64Key(32).optional(),
    retired: isoTime.optional(),
  })
  .refine((e) => e.material !== undefined || e.state === 'retired', { message: 'is missing but the key is not retired', path: ['material'] });

export const keyringSchema = z
  .looseObject({
    format: z.literal(KEYRING_FORMAT),
    keys: z.array(keyringEntrySchema).min(1),
  })
  .superRefine((doc, ctx) => {
    const primaries = doc.keys.filter((k) => k.state === 'primary').length;
    if (primaries !== 1) ctx.addIssue({ code: 'custom', path: ['keys'], message: `expected exactly one key with state "primary", found ${primaries}` });
    const seen = new Set<string>();
    doc.keys.forEach((k, i) => {
      if (seen.has(k.id)) ctx.addIssue({ code: 'custom', path: ['keys', i, 'id'], message: `${JSON.stringify(k.id)} appears twice` });
      seen.add(k.id);
    });
  });

export type KeyringDocument = z.infer<typeof keyringSchema>;
export type KeyringEntry = KeyringDocument['keys'][number];

export function newKeyEntry(version: number, now = new Date()): KeyringEntry {
  return {
    id: `local-${version}-${randomBytes(4).toString('hex')}`,
    version,
    state: 'primary',
    created: now.toISOString(),
    material: randomBytes(32).toString('base64'),
  };
}

export function newKeyringDocument(): KeyringDocument {
  return { format: KEYRING_FORMAT, keys: [newKeyEntry(1)] };
}

/** The file's text for a document: what every keyring write puts on disk. */
export function keyringText(doc: KeyringDocument): string {
  return `${JSON.stringify(validateKeyring(doc, '(new)'), null, 2)}\n`;
}

/**
 * Create a keyring with one new primary KEK at `file`. Never overwrites: resolves undefined when a
 * file is there already (its keys may be the only way to read history).
 */
export async function createKeyring(file: string): Promise<KeyringDocument | undefined> {
  const doc = newKeyringDocument();
  return (await writeFileAtomic(file, keyringText(doc), { exclusive: true })) ? doc : undefined;
}

export async function readKeyring(file: string, options: { allowInsecurePermissions?: boolean } = {}): Promise<KeyringDocument> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new KeyringError(`keyring ${file} does not exist; create it with "temporal-envelope keys init"`, { cause });
    throw new KeyringError(`keyring ${file} cannot be read: ${code ?? 'error'}`, { cause });
  }
  if (stat.isDirectory()) throw directoryInstead(`keyring ${file}`, 'a keyring file');
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0 && !options.allowInsecurePermissions) {
    throw new KeyringError(
      `keyring ${file} is readable by other users (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600 on it`,
    );
  }
  return parseKeyFile(keyringSchema, await fs.readFile(file, 'utf8'), `keyring ${file}`);
}

export function validateKeyring(doc: unknown, file: string): KeyringDocument {
  return validateKeyFile(keyringSchema, doc, `keyring ${file}`);
}
