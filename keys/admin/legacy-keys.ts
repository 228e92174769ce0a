import { promises as fs } from 'node:fs';
import path from 'node:path';
import { KeyringError } from '../../primitives/errors.js';
import { writeFileAtomic } from '../../primitives/files.js';
import { SAMPLES_KEY_KIND } from '../../primitives/samples-format.js';
import { LEGACY_KEYS_FORMAT, readLegacyKeys, validateLegacyKeys, type LegacyKeyEntry, type LegacyKeysDocument } from '../legacy-key-file.js';
import { withFileLock } from './lock.js';

/**
 * Writes to the legacy key file (keys/legacy-key-file.ts) as `keys import-legacy` and `keys retire`
 * make them: read-modify-write under the file's lock, written atomically with mode 0600.
 */

/** A legacy key as the commands report it: everything but the material. */
export type LegacyKeySummary = Pick<LegacyKeyEntry, 'id' | 'kind' | 'state' | 'added' | 'retired'>;

function summary(e: LegacyKeyEntry): LegacyKeySummary {
  return { id: e.id, kind: e.kind, state: e.state, added: e.added, retired: e.retired };
}

/** The file's document, or an empty one when there is no file yet (import creates it). */
async function loadOrEmpty(file: string): Promise<LegacyKeysDocument> {
  try {
    await fs.stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { format: LEGACY_KEYS_FORMAT, keys: [] };
  }
  return readLegacyKeys(file);
}

async function write(file: string, doc: LegacyKeysDocument): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(validateLegacyKeys(doc, file), null, 2)}\n`);
}

/**
 * Add a samples-codec key, decrypt-only. Refuses an id already in the file (retired ones too: the
 * id is how payloads name their key) and material that is not exactly 32 bytes. The summary
 * returned carries no material, so nothing prints it by accident.
 */
export async function importLegacyKey(file: string, id: string, material: Uint8Array, options: { now?: Date } = {}): Promise<LegacyKeySummary> {
  if (material.length !== 32) throw new KeyringError(`legacy key material expected 32 bytes (AES-256), got ${material.length}`);
  // The first import creates the file, and its directory (0700, as every key file's writer does), which the lock lives in.
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  return withFileLock(file, async () => {
    const doc = await loadOrEmpty(file);
    if (doc.keys.some((k) => k.id === id)) throw new KeyringError(`legacy key ${JSON.stringify(id)} is already in ${file}`);
    const entry: LegacyKeyEntry = { id, kind: SAMPLES_KEY_KIND, state: 'decrypt-only', added: (options.now ?? new Date()).toISOString(), material: Buffer.from(material).toString('base64') };
    doc.keys.push(entry);
    await write(file, doc);
    return summary(entry);
  });
}

/**
 * Stop a legacy key from decrypting; `destroy` also deletes its material (irreversible). The "still
 * in use" check is the caller's, as for every key (keys/admin/retire-rules.ts).
 */
export async function retireLegacyKey(
  file: string,
  id: string,
  options: { destroy?: boolean; now?: Date; check?: (entry: LegacyKeyEntry) => void | Promise<void> } = {},
): Promise<LegacyKeySummary> {
  return withFileLock(file, async () => {
    const doc = await readLegacyKeys(file);
    const entry = doc.keys.find((k) => k.id === id);
    if (entry === undefined) throw new KeyringError(`legacy key ${JSON.stringify(id)} is not in ${file}`);
    if (entry.state === 'retired' && (!options.destroy || entry.material === undefined)) {
      throw new KeyringError(`legacy key ${JSON.stringify(id)} is already retired${entry.material === undefined ? ' and destroyed' : ''}`);
    }
    await options.check?.(entry);
    if (entry.state !== 'retired') {
      entry.state = 'retired';
      entry.retired = (options.now ?? new Date()).toISOString();
    }
    if (options.destroy) delete entry.material;
    await write(file, doc);
    return summary(entry);
  });
}
