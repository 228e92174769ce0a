package testenv

import (
	"crypto/sha256"
	"strconv"
)

// DeterministicRandom is the seeded byte stream of test/support/deterministic-random.ts: SHA-256
// in counter mode, block i = SHA-256(seed ‖ decimal(i)), the blocks read in order. Any way of
// splitting reads yields the same bytes, so the Go codec consuming it for a data key, the key's
// wrapping nonce and the payload nonce (in that order, like the TypeScript codec) reproduces the
// TypeScript vectors byte for byte. Test-only.
type DeterministicRandom struct {
	seed    string
	counter int
	pool    []byte
}

// NewDeterministicRandom starts the stream for seed.
func NewDeterministicRandom(seed string) *DeterministicRandom {
	return &DeterministicRandom{seed: seed}
}

// Read fills p from the stream; it never fails.
func (r *DeterministicRandom) Read(p []byte) (int, error) {
	for len(r.pool) < len(p) {
		block := sha256.Sum256([]byte(r.seed + strconv.Itoa(r.counter)))
		r.counter++
		r.pool = append(r.pool, block[:]...)
	}
	n := copy(p, r.pool)
	r.pool = r.pool[n:]
	return n, nil
}
