import { createHmac } from 'node:crypto';

/**
 * HKDF-SHA256 (RFC 5869) for outputs of up to one hash block (32 bytes), written out with HMAC.
 * node's `hkdfSync` refuses an `info` over 1024 bytes (an OpenSSL limit, not RFC 5869's), and a
 * format-v2 data key's info carries a namespace and a workflow id of up to 1024 bytes each; Go's
 * and Python's HKDF take any length, so the wire format must not depend on that limit.
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length = 32): Uint8Array {
  if (!Number.isInteger(length) || length < 1 || length > 32) throw new RangeError(`"length" expected 1..32 bytes, got ${length}`);
  // Extract: PRK = HMAC(salt, IKM). Expand, one block: T(1) = HMAC(PRK, info ‖ 0x01).
  const prk = createHmac('sha256', salt).update(ikm).digest();
  const okm = createHmac('sha256', prk).update(info).update(ONE).digest();
  prk.fill(0);
  const out = Uint8Array.from(okm.subarray(0, length));
  okm.fill(0);
  return out;
}

const ONE = new Uint8Array([1]);
