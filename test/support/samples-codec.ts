import { webcrypto } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';

/**
 * A stand-in for Temporal's samples encryption codec, written from (not copied out of)
 * samples-typescript encryption/src/encryption-codec.ts and crypto.ts (main, 2024-12-13):
 * WebCrypto AES-GCM, a random 12-byte IV, a 128-bit tag, `iv ‖ ciphertext ‖ tag` as `data`, no
 * additional data, of `temporal.api.common.v1.Payload.encode(payload)`; metadata `encoding:
 * binary/encrypted` and `encryption-key-id`. samples-go (encryption/crypt.go: gcm.Seal(nonce,
 * nonce, data, nil) of p.Marshal()) and samples-python (encryption/codec.py: nonce +
 * AESGCM.encrypt(nonce, SerializeToString(), None)) write the same bytes. Tests use it to leave
 * payloads exactly as a team on the samples codec would have.
 */
const ProtoPayload = proto.temporal.api.common.v1.Payload;
const utf8 = new TextEncoder();

export const SAMPLES_KEY_TEXT = 'test-key-test-key-test-key-test!'; // the samples' hard-coded 32-character key

export class SamplesEncryptionCodec implements PayloadCodec {
  private constructor(
    private readonly keyId: string,
    private readonly key: webcrypto.CryptoKey,
  ) {}

  static async create(keyId: string, key: Uint8Array = utf8.encode(SAMPLES_KEY_TEXT)): Promise<SamplesEncryptionCodec> {
    return new SamplesEncryptionCodec(keyId, await webcrypto.subtle.importKey('raw', key, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(
      payloads.map(async (payload) => {
        const iv = webcrypto.getRandomValues(new Uint8Array(12));
        const sealed = await webcrypto.subtle.encrypt({ name: 'AES-GCM', iv, tagLength: 128 }, this.key, ProtoPayload.encode(payload).finish());
        return {
          metadata: { encoding: utf8.encode('binary/encrypted'), 'encryption-key-id': utf8.encode(this.keyId) },
          data: Buffer.concat([iv, new Uint8Array(sealed)]),
        };
      }),
    );
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(
      payloads.map(async (payload) => {
        if (new TextDecoder().decode(payload.metadata?.encoding ?? new Uint8Array()) !== 'binary/encrypted') return payload;
        const data = payload.data!;
        const opened = await webcrypto.subtle.decrypt({ name: 'AES-GCM', iv: data.subarray(0, 12), tagLength: 128 }, this.key, data.subarray(12));
        return ProtoPayload.decode(new Uint8Array(opened));
      }),
    );
  }
}
