import { describe, expect, it } from 'vitest';
import { pooledRandomBytes } from '../primitives/random-pool.js';

describe('pooled random bytes for nonces', () => {
  it('never hands out the same bytes twice, across many refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) seen.add(Buffer.from(pooledRandomBytes(12)).toString('hex'));
    expect(seen.size).toBe(20_000);
  });

  it('leaves earlier draws untouched when the pool refills (a refill is a new buffer)', () => {
    const first = pooledRandomBytes(24);
    const copy = Uint8Array.from(first);
    for (let i = 0; i < 2_000; i++) pooledRandomBytes(12);
    expect(first).toEqual(copy);
  });

  it('gives exactly the length asked for, also above the pool size', () => {
    for (const n of [0, 1, 12, 24, 1024, 1025, 10_000]) expect(pooledRandomBytes(n)).toHaveLength(n);
  });

  it('is not all zeros or a repeating block (the CSPRNG really filled it)', () => {
    const a = Buffer.from(pooledRandomBytes(1024));
    const b = Buffer.from(pooledRandomBytes(1024));
    expect(a.equals(Buffer.alloc(1024))).toBe(false);
    expect(a.equals(b)).toBe(false);
  });
});
