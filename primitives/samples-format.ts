/**
 * The payload format of Temporal's samples encryption codec, which most teams start from. We only
 * read it (legacy, decrypt-only keys); new payloads are always sealed in our envelope.
 *
 * metadata   encoding           "binary/encrypted"
 *            encryption-key-id  the key's id, a free string the team chose
 *            (no envelope-version: that is what tells it from ours)
 * data       nonce(12) ‖ AES-256-GCM ciphertext ‖ tag(16), no additional data, of the original
 *            Payload serialized with temporal.api.common.v1.Payload
 *
 * As written by samples-go encryption/crypt.go + data_converter.go, samples-python
 * encryption/codec.py, and samples-typescript encryption/src/{crypto,encryption-codec}.ts since
 * 2022-10-27 (before that the TypeScript sample length-prefixed the Payload; not read here).
 * docs/key-management.md#migrating-from-the-temporal-samples-codec cites them.
 */
import type { Payload } from '@temporalio/common';
import { META, isEncryptedEncoding } from './format.js';

/** The `kind` a legacy key file records for keys of this format. */
export const SAMPLES_KEY_KIND = 'samples-aes-256-gcm';

/** The samples write no additional data. */
export const SAMPLES_AAD = new Uint8Array(0);

const MAX_KEY_ID_BYTES = 2048;
// Exact bytes to exact string: a leading U+FEFF stays, so the id matches the legacy key file's byte for byte.
const keyIdText = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The key id of a payload that looks like the samples' format (Temporal's encrypted encoding, a
 * readable `encryption-key-id`, no `envelope-version`), or undefined. Reads no key: whether the id
 * names a configured legacy key is the caller's question.
 */
export function samplesKeyIdOf(payload: Payload): string | undefined {
  if (!isEncryptedEncoding(payload)) return undefined;
  const meta = payload.metadata!;
  if (meta[META.version] != null) return undefined;
  const id = meta[META.keyId];
  if (!(id instanceof Uint8Array) || id.length === 0 || id.length > MAX_KEY_ID_BYTES) return undefined;
  try {
    return keyIdText.decode(id);
  } catch {
    return undefined;
  }
}
