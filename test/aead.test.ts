import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openSealed, sealWithRandomNonce } from '../primitives/aead.js';
import { TamperedCiphertextError } from '../primitives/errors.js';

// AES-GCM sealing feeds node's cipher in 64 KiB pieces into one preallocated buffer. These pin
// it against node's one-shot API at and around the piece boundaries, where an off-by-one would
// drop, repeat or misplace bytes.
const CHUNK = 64 * 1024;
const SIZES = [0, 1, 15, 16, 17, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5, 1024 * 1024];

function bytes(n: number, seed: string): Uint8Array {
  const out = new Uint8Array(n);
  let block = createHash('sha256').update(seed).digest();
  for (let i = 0; i < n; i += 32) {
    out.set(block.subarray(0, Math.min(32, n - i)), i);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

const key = bytes(32, 'key');
const nonce = bytes(12, 'nonce');
const aad = bytes(181, 'aad');
const fixedNonce = (n: number): Uint8Array => nonce.subarray(0, n);

function oneShotSeal(plaintext: Uint8Array): Buffer {
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  c.setAAD(aad);
  return Buffer.concat([nonce, c.update(plaintext), c.final(), c.getAuthTag()]);
}

describe('AES-256-GCM sealing in pieces', () => {
  for (const size of SIZES) {
    it(`${size} bytes: the same box as node's one-shot API, and it opens back`, () => {
      const plaintext = bytes(size, `plain-${size}`);
      const box = sealWithRandomNonce('AES-256-GCM', key, plaintext, aad, fixedNonce);
      expect(Buffer.from(box).equals(oneShotSeal(plaintext))).toBe(true);

      const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
      d.setAAD(aad);
      d.setAuthTag(box.subarray(box.length - 16));
      const reference = Buffer.concat([d.update(box.subarray(12, box.length - 16)), d.final()]);
      expect(reference.equals(plaintext)).toBe(true);

      expect(Buffer.from(openSealed('AES-256-GCM', key, box, aad)).equals(Buffer.from(plaintext))).toBe(true);
    });
  }

  it('rejects a flip in the last piece of a multi-piece box', () => {
    const box = sealWithRandomNonce('AES-256-GCM', key, bytes(3 * CHUNK + 5, 'tail'), aad, fixedNonce);
    const tampered = Uint8Array.from(box);
    tampered[12 + 3 * CHUNK + 2]! ^= 0x01;
    expect(() => openSealed('AES-256-GCM', key, tampered, aad)).toThrow(TamperedCiphertextError);
  });

  it('returns its own buffer, not a view into a shared pool, on both paths', () => {
    for (const size of [100, 2 * CHUNK]) {
      const box = sealWithRandomNonce('AES-256-GCM', key, bytes(size, 'own'), aad, fixedNonce);
      expect(box.byteOffset).toBe(0);
      expect(box.buffer.byteLength).toBe(box.length);
    }
  });
});
