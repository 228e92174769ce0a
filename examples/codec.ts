import { fileURLToPath } from 'node:url';
import { EnvelopeCodec } from '../codecs/index.js';
import type { KeyProvider } from '../keys/index.js';

/** One codec per process, shared by its worker and client: its data-key cache is what keeps KMS calls rare. */
export function exampleCodec(keys: KeyProvider): EnvelopeCodec {
  // requireEncryption: a plaintext payload injected by someone with signal permission but no key is refused.
  return new EnvelopeCodec({ keyProviders: keys, requireEncryption: true });
}

/**
 * Seals failure messages and stack traces too (codecs/failure-converter.cjs); worker and client load
 * it by path. From the installed package: `require.resolve('temporal-envelope/failure-converter')`.
 */
export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('../codecs/failure-converter.cjs', import.meta.url));
