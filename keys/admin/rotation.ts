import { KeyringError } from '../../primitives/errors.js';
import { writeFileAtomic } from '../../primitives/files.js';
import { createKeyring, keyringText, newKeyEntry, readKeyring, type KeyringDocument, type KeyringEntry } from '../keyring-file.js';
import { withFileLock } from './lock.js';

/**
 * Key-management operations on a local keyring file, as `temporal-envelope keys …` runs them.
 * Each one is read-modify-write under the file's lock (./lock.ts), so two operators (or a script
 * and an operator) rotating at once cannot lose a key version.
 */

export interface KeyringFileOptions {
  allowInsecurePermissions?: boolean;
  now?: Date;
}

/** Create a keyring with one primary KEK. Refuses to overwrite: that would destroy every key in it. */
export async function initLocalKeyring(file: string): Promise<KeyringEntry> {
  const doc = await createKeyring(file);
  if (doc === undefined) {
    throw new KeyringError(`keyring ${file} already exists; refusing to overwrite it (its keys may still be needed to decrypt history)`);
  }
  return doc.keys[0] as KeyringEntry;
}

/** Replace the keyring file with `doc` (validated first), atomically. */
export async function writeKeyring(file: string, doc: KeyringDocument): Promise<void> {
  await writeFileAtomic(file, keyringText(doc));
}

export async function loadLocalKeyring(file: string, options: KeyringFileOptions = {}): Promise<KeyringDocument> {
  return readKeyring(file, { allowInsecurePermissions: options.allowInsecurePermissions ?? false });
}

/** Make a new KEK version primary; the previous primary becomes decrypt-only. */
export async function rotateLocalKeyring(
  file: string,
  options: KeyringFileOptions = {},
): Promise<{ previous: KeyringEntry; primary: KeyringEntry }> {
  return withFileLock(file, async () => {
    const doc = await loadLocalKeyring(file, options);
    const previous = doc.keys.find((k) => k.state === 'primary') as KeyringEntry;
    const primary = rotateDocument(doc, options.now);
    await writeKeyring(file, doc);
    return { previous: { ...previous }, primary: { ...primary } };
  });
}

/**
 * Stop a KEK from decrypting. With `destroy`, its material is deleted from the file (irreversible);
 * a key retired earlier may be destroyed later. The "still in use" check is the caller's
 * (keys/usage-report.ts), because it needs evidence from Temporal, not from the keyring.
 */
export async function retireLocalKey(
  file: string,
  id: string,
  options: KeyringFileOptions & { destroy?: boolean; check?: (entry: KeyringEntry, doc: KeyringDocument) => void | Promise<void> } = {},
): Promise<KeyringEntry> {
  return withFileLock(file, async () => {
    const doc = await loadLocalKeyring(file, options);
    const entry = doc.keys.find((k) => k.id === id);
    if (entry === undefined) throw new KeyringError(`key ${JSON.stringify(id)} is not in keyring ${file}`);
    if (entry.state === 'retired' && (!options.destroy || entry.material === undefined)) {
      throw new KeyringError(`key ${JSON.stringify(id)} is already retired${entry.material === undefined ? ' and destroyed' : ''}`);
    }
    await options.check?.(entry, doc);
    const retiredAt = entry.state === 'retired' ? entry.retired : undefined;
    const out = retireInDocument(doc, id, { destroy: options.destroy ?? false, ...(options.now ? { now: options.now } : {}) });
    if (retiredAt !== undefined) out.retired = retiredAt;
    await writeKeyring(file, doc);
    return { ...out };
  });
}

/**
 * When a key stopped being primary: the creation time of the next version (rotation writes both in
 * one step). Undefined for the current primary.
 */
export function demotedAt(doc: KeyringDocument, id: string): string | undefined {
  const entry = doc.keys.find((k) => k.id === id);
  if (entry === undefined || entry.state === 'primary') return undefined;
  const later = doc.keys.filter((k) => k.version > entry.version).sort((a, b) => a.version - b.version)[0];
  return later?.created;
}

/** Make `version` + 1 the primary; the old primary keeps decrypting. Returns the new entry. */
export function rotateDocument(doc: KeyringDocument, now = new Date()): KeyringEntry {
  const next = newKeyEntry(Math.max(...doc.keys.map((k) => k.version)) + 1, now);
  for (const k of doc.keys) if (k.state === 'primary') k.state = 'decrypt-only';
  doc.keys.push(next);
  return next;
}

/** Stop a KEK from decrypting. `destroy` also deletes its material, which cannot be undone. */
export function retireInDocument(doc: KeyringDocument, id: string, options: { destroy?: boolean; now?: Date } = {}): KeyringEntry {
  const entry = doc.keys.find((k) => k.id === id);
  if (entry === undefined) throw new KeyringError(`key ${JSON.stringify(id)} is not in the keyring`);
  if (entry.state === 'primary') throw new KeyringError(`key ${JSON.stringify(id)} is the primary; rotate first, then retire it`);
  entry.state = 'retired';
  entry.retired = (options.now ?? new Date()).toISOString();
  if (options.destroy) delete entry.material;
  return entry;
}
