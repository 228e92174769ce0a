import { demotedAt, loadLocalKeyring } from '../../keys/admin/rotation.js';
import type { KeyringDocument, KeyringEntry } from '../../keys/keyring-file.js';
import { readKmsKeyConfig, type KmsKeyEntry } from '../../keys/kms-key-config.js';
import { DEFAULT_LEGACY_KEYS_PATH, readLegacyKeys, type LegacyKeyEntry } from '../../keys/legacy-key-file.js';
import { pathExists } from '../../primitives/files.js';
import type { KeySourceOptions } from './options.js';

/** One KEK version as `keys list`, `keys show` and the other key commands print it, whichever provider holds it. */
export interface KeyInfo {
  id: string;
  provider: string;
  state: string;
  version?: number | undefined;
  created?: string | undefined;
  demoted?: string | undefined;
  retired?: string | undefined;
  destroyed?: boolean | undefined;
  /** Legacy keys only: the format they decrypt ("samples-aes-256-gcm"). */
  kind?: string | undefined;
}

export function localKeyInfo(entry: KeyringEntry, doc: KeyringDocument | undefined): KeyInfo {
  return {
    id: entry.id,
    provider: 'local',
    state: entry.state,
    version: entry.version,
    created: entry.created,
    demoted: doc === undefined ? undefined : demotedAt(doc, entry.id),
    retired: entry.retired,
    destroyed: entry.material === undefined,
  };
}

export function kmsKeyInfo(e: KmsKeyEntry): KeyInfo {
  return { id: e.keyId, provider: 'aws-kms', state: e.state, created: e.added, demoted: e.demoted, retired: e.retired };
}

/** The key versions of the keyring or key config the options name, oldest first (local) or primary first (aws-kms). */
export async function listKeyInfo(source: KeySourceOptions): Promise<KeyInfo[]> {
  if (source.provider === 'aws-kms') return (await readKmsKeyConfig(source.keyConfig)).keys.map(kmsKeyInfo);
  const doc = await loadLocalKeyring(source.keyring);
  return [...doc.keys].sort((a, b) => a.version - b.version).map((e) => localKeyInfo(e, doc));
}

export function legacyKeyInfo(e: Pick<LegacyKeyEntry, 'id' | 'kind' | 'state' | 'added' | 'retired'>, destroyed: boolean): KeyInfo {
  return { id: e.id, provider: 'legacy', kind: e.kind, state: e.state, created: e.added, retired: e.retired, destroyed };
}

/** The legacy key file the options name, or the default one. */
export function legacyKeysPathOf(source: KeySourceOptions): string {
  return source.legacyKeys ?? DEFAULT_LEGACY_KEYS_PATH;
}

/**
 * The legacy (samples codec) keys, for the commands that list and retire keys: from --legacy-keys,
 * which must exist, or from the default file when there is one.
 */
export async function listLegacyKeyInfo(source: KeySourceOptions): Promise<KeyInfo[]> {
  const file = legacyKeysPathOf(source);
  if (source.legacyKeys === undefined && !(await pathExists(file))) return [];
  return (await readLegacyKeys(file)).keys.map((e) => legacyKeyInfo(e, e.material === undefined));
}

/** The file a command's keys live in: the keyring, or the AWS KMS key config. */
export function keyFileOf(source: KeySourceOptions): string {
  return source.provider === 'aws-kms' ? source.keyConfig : source.keyring;
}
