import { promises as fs } from 'node:fs';
import YAML from 'yaml';
import { KeyringError } from '../primitives/errors.js';
import { watchFile, type FileWatch } from '../primitives/files.js';
import type { KekState } from './key-provider.js';

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

export interface KmsKeyEntry {
  keyId: string;
  state: KekState;
  added: string;
  /** When it stopped being primary. */
  demoted?: string | undefined;
  retired?: string | undefined;
}

export interface KmsKeyConfig {
  format: typeof KMS_KEY_CONFIG_FORMAT;
  keys: KmsKeyEntry[];
}

const KEY_ID = /^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[A-Za-z0-9/_-]+|alias\/[A-Za-z0-9/_-]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;

export function isKmsKeyId(value: string): boolean {
  return KEY_ID.test(value) && value.length <= 2048;
}

function isYaml(file: string): boolean {
  return /\.ya?ml$/i.test(file);
}

export function validateKmsKeyConfig(doc: unknown, file: string): KmsKeyConfig {
  const fail = (what: string): never => {
    throw new KeyringError(`key config ${file}: ${what}`);
  };
  if (typeof doc !== 'object' || doc === null) return fail('expected an object');
  const d = doc as Record<string, unknown>;
  if (d.format !== KMS_KEY_CONFIG_FORMAT) fail(`"format" expected ${JSON.stringify(KMS_KEY_CONFIG_FORMAT)}`);
  if (!Array.isArray(d.keys) || d.keys.length === 0) fail('"keys" expected a non-empty array');
  const seen = new Set<string>();
  (d.keys as unknown[]).forEach((k, i) => {
    if (typeof k !== 'object' || k === null) fail(`keys[${i}] expected an object`);
    const e = k as Record<string, unknown>;
    if (typeof e.keyId !== 'string' || !isKmsKeyId(e.keyId)) fail(`keys[${i}].keyId expected a KMS key ARN, key id or alias/name`);
    if (seen.has(e.keyId as string)) fail(`keys[${i}].keyId ${JSON.stringify(e.keyId)} appears twice`);
    seen.add(e.keyId as string);
    if (e.state !== 'primary' && e.state !== 'decrypt-only' && e.state !== 'retired') fail(`keys[${i}].state expected primary, decrypt-only or retired`);
    if ((e.state === 'primary') !== (i === 0)) fail(`keys[${i}].state: the first key, and only the first, must be "primary"`);
    if (typeof e.added !== 'string' || Number.isNaN(Date.parse(e.added))) fail(`keys[${i}].added expected an ISO date string`);
  });
  return d as unknown as KmsKeyConfig;
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
    throw new KeyringError(`key config ${file} cannot be read: ${code ?? 'error'}`, { cause });
  }
  let doc: unknown;
  try {
    doc = isYaml(file) ? YAML.parse(text) : JSON.parse(text);
  } catch {
    throw new KeyringError(`key config ${file} is not valid ${isYaml(file) ? 'YAML' : 'JSON'}`);
  }
  return validateKmsKeyConfig(doc, file);
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
  return watchFile(file, async () => apply((await readKmsKeyConfig(file)).keys), {
    intervalMs: options.intervalMs ?? 2000,
    ...(options.onError ? { onError: options.onError } : {}),
  });
}

/** The file's text for a document: JSON, or YAML when the name ends in .yaml/.yml. */
export function kmsKeyConfigText(file: string, doc: KmsKeyConfig): string {
  validateKmsKeyConfig(doc, file);
  return isYaml(file) ? YAML.stringify(doc) : `${JSON.stringify(doc, null, 2)}\n`;
}
