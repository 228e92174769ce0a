import { fileURLToPath } from 'node:url';
import { EnvelopeCodec } from '../codecs/index.js';
import type { KeyProvider } from '../keys/index.js';

/** One codec per process, shared by its worker and client: its data-key cache is what keeps KMS calls rare. */
export function exampleCodec(keys: KeyProvider): EnvelopeCodec {
  // requireEncryption: a plaintext payload injected by someone with signal permission but no key is refused.
  return new EnvelopeCodec({ keyProviders: keys, requireEncryption: true });
}

/** Encodes failure messages and stack traces too (see failure-converter.cjs): for worker and client `dataConverter`. */
export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('./failure-converter.cjs', import.meta.url));
