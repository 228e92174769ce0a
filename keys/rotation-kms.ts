import { randomBytes } from 'node:crypto';
import { promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { KeyringError } from '../primitives/errors.js';
import type { KekState } from './key-provider.js';
import { withKeyringLock } from './rotation.js';

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

export async function writeKmsKeyConfig(file: string, doc: KmsKeyConfig): Promise<void> {
  validateKmsKeyConfig(doc, file);
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const text = isYaml(file) ? YAML.stringify(doc) : `${JSON.stringify(doc, null, 2)}\n`;
  // No secrets in it, but it decides which key protects everything: keep it owner-writable only.
  await fs.writeFile(tmp, text, { mode: 0o644, flag: 'wx' });
  await fs.rename(tmp, file);
}

export async function initKmsKeyConfig(file: string, keyId: string, now = new Date()): Promise<KmsKeyEntry> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  return withKeyringLock(file, async () => {
    try {
      await fs.access(file);
      throw new KeyringError(`key config ${file} already exists; refusing to overwrite it (use "keys rotate --provider aws-kms --new-key …")`);
    } catch (err) {
      if (err instanceof KeyringError) throw err;
    }
    const entry: KmsKeyEntry = { keyId, state: 'primary', added: now.toISOString() };
    await writeKmsKeyConfig(file, { format: KMS_KEY_CONFIG_FORMAT, keys: [entry] });
    return entry;
  });
}

/** Put `keyId` first as the primary; the old primary becomes decrypt-only. */
export async function rotateKmsKeyConfig(file: string, keyId: string, now = new Date()): Promise<{ previous: KmsKeyEntry; primary: KmsKeyEntry }> {
  return withKeyringLock(file, async () => {
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
  return withKeyringLock(file, async () => {
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

/**
 * Re-read the key config whenever it changes and hand the keys (primary first, retired ones
 * included with their state) to `apply` — e.g. `(keys) => keyring.setKeys(…)`. A broken file is
 * reported to `onError` and the keys already applied stay in force.
 */
export function watchKmsKeyConfig(
  file: string,
  apply: (keys: readonly KmsKeyEntry[]) => void,
  options: { intervalMs?: number; onError?: (err: Error) => void } = {},
): { close(): void } {
  let last = mtimeSync(file);
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    const now = mtimeSync(file);
    if (now === last) return;
    busy = true;
    readKmsKeyConfig(file)
      .then((doc) => {
        last = now;
        apply(doc.keys);
      })
      .catch((err: unknown) => options.onError?.(err as Error))
      .finally(() => {
        busy = false;
      });
  }, options.intervalMs ?? 5000);
  timer.unref();
  return { close: () => clearInterval(timer) };
}

function mtimeSync(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}
