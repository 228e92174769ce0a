import { randomFillSync } from 'node:crypto';

/**
 * Random bytes for nonces, drawn from the CSPRNG 4 KiB at a time. One `randomBytes(12)` per payload
 * was a tenth of a 1 KB encode+decode round trip (a native call per nonce); a batch costs the same
 * call once per ~340 nonces. Nonces are public (they travel in front of every ciphertext), so
 * holding a few KiB of future ones in memory reveals nothing; what matters is that no byte is
 * handed out twice: each refill is a new buffer and the cursor only moves forward.
 *
 * The returned array is a view of the pool. A pool is never written again after its fill, so a view
 * keeps its bytes however many draws follow (it also keeps its 4 KiB pool alive while it is held;
 * every caller here copies the nonce into the sealed output at once).
 */
const POOL_BYTES = 4096;
let pool = new Uint8Array(0);
let cursor = 0;

export function pooledRandomBytes(n: number): Uint8Array {
  if (n > POOL_BYTES / 4) return randomFillSync(new Uint8Array(n));
  if (cursor + n > pool.length) {
    pool = randomFillSync(new Uint8Array(POOL_BYTES));
    cursor = 0;
  }
  const out = pool.subarray(cursor, cursor + n);
  cursor += n;
  return out;
}
