import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { KeyringError } from '../primitives/errors.js';
import { writeFileAtomic } from '../primitives/files.js';
import type { KekState } from './key-provider.js';

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

export interface KeyringEntry {
  id: string;
  version: number;
  state: KekState;
  created: string;
  /** base64 of 32 bytes; absent once retired with destruction (`retire --destroy`). */
  material?: string | undefined;
  retired?: string | undefined;
}

export interface KeyringDocument {
  format: typeof KEYRING_FORMAT;
  keys: KeyringEntry[];
}

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
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0 && !options.allowInsecurePermissions) {
    throw new KeyringError(
      `keyring ${file} is readable by other users (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600 on it`,
    );
  }
  const text = await fs.readFile(file, 'utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new KeyringError(`keyring ${file} is not valid JSON`);
  }
  return validateKeyring(doc, file);
}

export function validateKeyring(doc: unknown, file: string): KeyringDocument {
  const fail = (what: string): never => {
    throw new KeyringError(`keyring ${file}: ${what}`);
  };
  if (typeof doc !== 'object' || doc === null) return fail('expected a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.format !== KEYRING_FORMAT) fail(`"format" expected ${JSON.stringify(KEYRING_FORMAT)}`);
  if (!Array.isArray(d.keys) || d.keys.length === 0) fail('"keys" expected a non-empty array');
  const seen = new Set<string>();
  let primaries = 0;
  (d.keys as unknown[]).forEach((k, i) => {
    if (typeof k !== 'object' || k === null) fail(`keys[${i}] expected an object`);
    const e = k as Record<string, unknown>;
    if (typeof e.id !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(e.id)) fail(`keys[${i}].id expected 1-128 of [A-Za-z0-9._:-]`);
    if (seen.has(e.id as string)) fail(`keys[${i}].id ${JSON.stringify(e.id)} appears twice`);
    seen.add(e.id as string);
    if (typeof e.version !== 'number' || !Number.isInteger(e.version) || e.version < 1) fail(`keys[${i}].version expected a whole number >= 1`);
    if (e.state !== 'primary' && e.state !== 'decrypt-only' && e.state !== 'retired') fail(`keys[${i}].state expected primary, decrypt-only or retired`);
    if (e.state === 'primary') primaries++;
    if (typeof e.created !== 'string') fail(`keys[${i}].created expected an ISO date string`);
    if (e.material !== undefined) {
      if (typeof e.material !== 'string' || Buffer.from(e.material, 'base64').length !== 32) fail(`keys[${i}].material expected base64 of 32 bytes`);
    } else if (e.state !== 'retired') {
      fail(`keys[${i}].material is missing but the key is ${String(e.state)}`);
    }
  });
  if (primaries !== 1) fail(`expected exactly one key with state "primary", found ${primaries}`);
  return d as unknown as KeyringDocument;
}
