import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';

const ProtoPayload = proto.temporal.api.common.v1.Payload;
const ENCODING = new TextEncoder().encode('binary/encrypted');

/**
 * The baseline: what Temporal's own encryption samples do. One static AES-256-GCM key, the whole
 * Payload serialized and sealed as nonce(12) ‖ ciphertext ‖ tag, `encoding` and `encryption-key-id`
 * in metadata. No envelope, no per-workflow keys, no additional data.
 */
export class StaticKeyCodec implements PayloadCodec {
  private readonly keyIdBytes: Uint8Array;
  constructor(
    private readonly key: Buffer = randomBytes(32),
    keyId = 'static-1',
  ) {
    this.keyIdBytes = new TextEncoder().encode(keyId);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
      const body = cipher.update(ProtoPayload.encode(p).finish());
      const data = Buffer.concat([nonce, body, cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: ENCODING, 'encryption-key-id': this.keyIdBytes }, data };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const data = Buffer.from(p.data!);
      const decipher = createDecipheriv('aes-256-gcm', this.key, data.subarray(0, 12));
      decipher.setAuthTag(data.subarray(data.length - 16));
      const plain = Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]);
      return ProtoPayload.decode(plain) as Payload;
    });
  }
}
